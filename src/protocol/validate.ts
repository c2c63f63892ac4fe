/** Turns a schema failure into the protocol's `invalid_request`, naming each bad field. */
import type { z } from 'zod';
import { invalid } from '../errors.ts';

export function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = result.error.issues.map((i) => ({
    path: i.path.map(String).join('.') || '(root)',
    message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
  throw invalid(details.map((d) => `${d.path}: ${d.message}`).join('; '), details);
}
