/** Wire constants with no dependencies, so a browser bundle of the SDK need not carry the schemas. */
export const PROTOCOL_JSON = 'parley.v1.json';

export const closeCodes = {
  goingAway: 1001,
  frameTooLarge: 1009,
  notAuthenticated: 4001,
  protocolError: 4002,
  rateLimited: 4008,
  tooSlow: 4009,
} as const;
