package dev.parley

import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * Automatic reconnection with capped exponential backoff and equal jitter.
 *
 * The n-th reconnect in a row (n from 0) waits a random delay in `(d/2, d]` where `d = min(baseDelay * 2^n, maxDelay)`:
 * with the defaults 0.5–1 s, 1–2 s, 2–4 s, … up to 15–30 s. The counter n resets only after a connection has stayed up
 * for [stableAfter], so a server that accepts and then drops at once backs off instead of being hammered at the base
 * delay, and [maxRetries] bounds it.
 *
 * @property baseDelay the delay scale for the first reconnect.
 * @property maxDelay the cap on any single delay.
 * @property maxRetries reconnect attempts in a row before giving up with [StopReason.RetriesExhausted]; `null` for
 *   unlimited.
 * @property stableAfter how long a connection must last before the attempt counter resets.
 */
public data class ReconnectPolicy(
    val baseDelay: Duration = 1.seconds,
    val maxDelay: Duration = 30.seconds,
    val maxRetries: Int? = null,
    val stableAfter: Duration = 10.seconds,
) {
    init {
        require(baseDelay >= 1.milliseconds) { "reconnect.baseDelay must be at least 1 ms but was $baseDelay" }
        require(maxDelay >= baseDelay) { "reconnect.maxDelay ($maxDelay) must be at least baseDelay ($baseDelay)" }
        require(maxRetries == null || maxRetries >= 0) { "reconnect.maxRetries must be >= 0 but was $maxRetries" }
        require(!stableAfter.isNegative()) { "reconnect.stableAfter must not be negative but was $stableAfter" }
    }

    /** The mutable side of [ReconnectPolicy], used by [ParleyOptions.Builder.reconnect]. */
    public class Builder internal constructor() {
        /** See [ReconnectPolicy.baseDelay]. Default 1 s. */
        public var baseDelay: Duration = DEFAULT.baseDelay

        /** See [ReconnectPolicy.maxDelay]. Default 30 s. */
        public var maxDelay: Duration = DEFAULT.maxDelay

        /** See [ReconnectPolicy.maxRetries]. Default unlimited. */
        public var maxRetries: Int? = DEFAULT.maxRetries

        /** See [ReconnectPolicy.stableAfter]. Default 10 s. */
        public var stableAfter: Duration = DEFAULT.stableAfter

        internal fun build(): ReconnectPolicy = ReconnectPolicy(baseDelay, maxDelay, maxRetries, stableAfter)
    }

    public companion object {
        /** 1 s base, 30 s cap, unlimited retries, stable after 10 s: used by [DisconnectDecision.Reconnect] too. */
        public val DEFAULT: ReconnectPolicy = ReconnectPolicy()
    }
}
