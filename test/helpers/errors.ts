// The error a call throws, for tests that look inside it (its fields, not only its message).

/** What `fn` throws, which must be an instance of `type`; fails the test if it throws nothing or another kind. */
export function thrownError<E extends Error>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    fn();
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error(`expected a ${type.name}, nothing was thrown`);
}
