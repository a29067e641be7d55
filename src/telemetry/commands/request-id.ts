import { z } from 'zod';

/** Optional and echoed in the reply, so a sender can match replies to what it sent. */
export const requestId = z.union([z.string().max(128), z.number()]).optional();
