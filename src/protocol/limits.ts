/** Sizes the protocol fixes; configurable limits live in config.ts. */
export const MAX_BODY_BYTES = 16_384;
export const MAX_CLIENT_MSG_ID = 64;
export const MAX_FRAME_ID = 64;
export const MAX_WATCHED_USERS = 1_000;
export const RESUME_REPLAY_LIMIT = 1_000;
export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 200;
export const EVENTS_DEFAULT_LIMIT = 100;
export const EVENTS_MAX_LIMIT = 1_000;
export const MAX_ATTACHMENTS = 10;
export const MAX_GROUP_MEMBERS_PER_CALL = 1_000;
