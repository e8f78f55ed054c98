package dev.parley.internal

import dev.parley.ReconnectPolicy
import kotlin.random.Random
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds

/**
 * The delay before reconnect attempt [attempt] (0-based) under [policy]: equal jitter over a capped exponential.
 *
 * The exponent is clamped so `baseDelay * 2^attempt` cannot overflow however large [attempt] grows.
 */
internal fun backoffDelay(policy: ReconnectPolicy, attempt: Int, random: Random): Duration {
    val base = policy.baseDelay.inWholeMilliseconds
    val max = policy.maxDelay.inWholeMilliseconds
    val exponent = attempt.coerceIn(0, 62)
    // Shift only while the result stays under max; past that the cap applies anyway.
    val capped = if (base > (max shr exponent)) max else (base shl exponent).coerceAtMost(max)
    // Equal jitter: uniform in (d/2, d], never above the cap; d = 1 ms gives exactly 1 ms.
    val half = capped / 2
    return (half + random.nextLong(1, capped - half + 1)).milliseconds
}
