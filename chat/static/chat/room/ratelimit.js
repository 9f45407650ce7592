// The server's rate limit is a token bucket (limits.rate_per_sec, limits.rate_burst from hello); the
// page keeps a slightly smaller one, so that a long offline queue goes out as fast as allowed
// without rate_limited errors.

export class TokenBucket {
  /** `limits` is the room's limits object, read at each take (hello updates it in place). */
  constructor(limits) {
    this.limits = limits;
    this.tokens = 30;
    this.at = performance.now();
  }

  /** Take a token if there is one; false means "not now". */
  take() {
    const rate = this.limits.rate_per_sec;
    if (!rate) return true;
    const now = performance.now();
    this.tokens = Math.min(this.burst(), this.tokens + ((now - this.at) / 1000) * rate * 0.9);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Called on every hello: the server's bucket is full again for a new connection. */
  refill() {
    this.tokens = this.burst();
  }

  burst() {
    return Math.max(1, (this.limits.rate_burst || 1) - 2);
  }
}
