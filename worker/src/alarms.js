// User alarms multiplexed with the object's own idempotency sweep
// (PROTOCOL.md "Alarms"). The platform gives an object one alarm; the user's
// time is kept apart in storage (`m:alarm`), and the platform alarm is set to
// the earlier of the user's time and the next sweep. `alarm()` (in the base)
// runs whatever is due and calls `rearm` again.

import { invalidInput } from "./errors.js";
import { isObject } from "./validate.js";

/** Storage key of the user's alarm time (ms since epoch). */
export const USER_ALARM = "m:alarm";

/** The user's alarm time, or null. */
export async function userAlarm(storage) {
  return (await storage.get(USER_ALARM)) ?? null;
}

/** The time in a `PUT …/alarm` body: a non-negative integer of ms since epoch. */
export function alarmTimeOf(body) {
  const time = isObject(body) ? body.time : undefined;
  if (!Number.isSafeInteger(time) || time < 0) {
    throw invalidInput('body must be {"time": <ms since epoch, a non-negative integer>}');
  }
  return time;
}

/**
 * Set the platform alarm to the earlier of the user's alarm and `sweepAt`
 * (either may be null), or delete it when there is neither.
 */
export async function rearm(storage, sweepAt) {
  const user = await userAlarm(storage);
  const times = [user, sweepAt].filter((t) => t !== null);
  const next = times.length === 0 ? null : Math.min(...times);
  const current = await storage.getAlarm();
  if (next === null) {
    if (current !== null) await storage.deleteAlarm();
  } else if (current !== next) {
    await storage.setAlarm(next);
  }
}
