/** Field schemas shared by REST bodies and WebSocket frames, so both validate alike. */
import { z } from 'zod';
import { MAX_ATTACHMENTS, MAX_BODY_BYTES, MAX_CLIENT_MSG_ID } from './limits.ts';

/**
 * Text every store can keep: no NUL character and no lone UTF-16 surrogate
 * (PostgreSQL refuses both; refusing them here keeps every adapter alike).
 */
const storable = (s: string) => !s.includes('\u0000') && s.isWellFormed();
const text = () => z.string().refine(storable, 'no NUL characters or unpaired surrogates');

export const id = text().pipe(z.string().min(1).max(64));
export const seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
export const seqOrZero = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const username = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{3,32}$/, '3–32 of A–Z, a–z, 0–9, _ . -');
/** 8–256 characters, counted as Unicode code points. */
export const password = z.string().refine((s) => {
  const n = [...s].length;
  return n >= 8 && n <= 256;
}, '8–256 characters');
export const displayName = text()
  .transform((s) => s.trim())
  .refine((s) => s.length >= 1 && s.length <= 64, '1–64 characters after trimming');
export const title = text()
  .transform((s) => s.trim())
  .refine((s) => s.length >= 1 && s.length <= 128, '1–128 characters after trimming');

/**
 * UTF-8 length without encoding: the schemas also run in browsers, where there
 * is no Buffer, and allocating a TextEncoder result per message is waste.
 */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4; // a surrogate pair is one 4-byte character
      i++;
    } else n += 3;
  }
  return n;
}

/** Trimmed, then 1–16,384 bytes of UTF-8; otherwise kept exactly as sent. */
export const body = text()
  .transform((s) => s.trim())
  .refine((s) => {
    if (s.length === 0) return false;
    // A UTF-16 string of n units is at most 3n bytes; only measure when it could be over.
    return s.length * 3 <= MAX_BODY_BYTES || utf8Length(s) <= MAX_BODY_BYTES;
  }, `1–${MAX_BODY_BYTES} bytes of UTF-8 after trimming`);

export const clientMsgId = text().pipe(z.string().min(1).max(MAX_CLIENT_MSG_ID));
export const attachments = z.array(id).max(MAX_ATTACHMENTS);

/** A reaction: one short token with no whitespace or control characters (an emoji or a :name:). */
export const emoji = text().pipe(
  z
    .string()
    .min(1)
    .max(64)
    .regex(/^[^\s\p{Cc}]+$/u, 'no whitespace or control characters'),
);

export const limit = (max: number) => z.number().int().min(1).max(max);
