/**
 * A token bucket that hands out reservations: each call takes one token now and says how long to wait
 * before using it. Waiting callers queue up in the debt instead of retrying, so the rate holds however many
 * wait at once. A rate that is not a positive finite number means no limit.
 */
export class TokenBucket {
  readonly #ratePerMs: number
  readonly #burst: number
  #tokens: number
  #last: number

  constructor(ratePerSecond: number, now: number) {
    this.#ratePerMs = Number.isFinite(ratePerSecond) && ratePerSecond > 0 ? ratePerSecond / 1000 : Infinity
    // One second's worth may go at once: a fresh start resolves that many objects without waiting.
    this.#burst = Number.isFinite(this.#ratePerMs) ? Math.max(1, Math.ceil(ratePerSecond)) : Infinity
    this.#tokens = this.#burst
    this.#last = now
  }

  /** Takes a token; returns the milliseconds to wait before the request it stands for may go. */
  reserve(now: number): number {
    if (this.#ratePerMs === Infinity) return 0
    if (now > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#ratePerMs)
      this.#last = now
    }
    this.#tokens -= 1
    return this.#tokens >= 0 ? 0 : Math.ceil(-this.#tokens / this.#ratePerMs)
  }
}
