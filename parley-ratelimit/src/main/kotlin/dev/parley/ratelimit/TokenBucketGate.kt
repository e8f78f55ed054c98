package dev.parley.ratelimit

import dev.parley.Frame
import dev.parley.GateDecision
import dev.parley.SendGate
import io.github.bucket4j.Bucket
import io.github.bucket4j.TimeMeter
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration
import kotlin.time.Duration.Companion.nanoseconds
import kotlin.time.toJavaDuration
import kotlin.time.toKotlinDuration

/**
 * A rate limit on a client's send path ([dev.parley.ParleyOptions.sendGate]): a token bucket of [capacity] tokens,
 * refilled with [refillTokens] every [refillPeriod] (smoothly, as Bucket4j's greedy refill does), each data frame
 * costing what [cost] says (exchanges weigh requests differently; 1 by default).
 *
 * A send finds tokens, or waits its turn for them up to [maxWait] (its tokens are reserved at once, so waiting senders
 * pass in the order they came), or is refused with `RateLimitedException` and the time until it could pass. With
 * [maxWait] zero (the default) every send is immediate or refused. `trySend` never waits. A frame that then fails
 * before it is written gets its tokens back; control frames, heartbeats and a handler's pushes are not counted. One
 * gate may serve several clients, which then share the limit: give each client its own gate for a limit each.
 *
 * The arithmetic is Bucket4j's (a well-kept, lock-free token bucket).
 *
 * @property capacity the most tokens the bucket holds: the largest burst.
 * @property maxWait the longest a send may wait for its tokens before it is refused.
 */
public class TokenBucketGate(
    public val capacity: Long,
    refillTokens: Long,
    refillPeriod: Duration,
    public val maxWait: Duration = Duration.ZERO,
    private val cost: FrameCost = FrameCost { 1 },
    /** The clock the bucket refills by; `null` for the system's. Tests give a virtual one. */
    clock: TimeMeter? = null,
) : SendGate {
    init {
        require(capacity > 0) { "capacity must be positive but was $capacity" }
        require(refillTokens > 0) { "refillTokens must be positive but was $refillTokens" }
        require(refillPeriod.isPositive()) { "refillPeriod must be positive but was $refillPeriod" }
        require(!maxWait.isNegative()) { "maxWait must not be negative but was $maxWait" }
    }

    private val bucket: Bucket = Bucket.builder()
        .addLimit { it.capacity(capacity).refillGreedy(refillTokens, refillPeriod.toJavaDuration()) }
        .let { builder -> clock?.let { builder.withCustomTimePrecision(it) } ?: builder }
        .build()

    private val passed = AtomicLong()
    private val waited = AtomicLong()
    private val refused = AtomicLong()
    private val refunded = AtomicLong()

    override fun reserve(frame: Frame, mayWait: Boolean): GateDecision {
        val tokens = tokensFor(frame)
        if (tokens == 0L) return GateDecision.Pass(Duration.ZERO)
        if (bucket.tryConsume(tokens)) {
            passed.incrementAndGet()
            return GateDecision.Pass(Duration.ZERO)
        }
        val estimate = bucket.estimateAbilityToConsume(tokens).nanosToWaitForRefill.nanoseconds
        if (!mayWait || estimate > maxWait) {
            refused.incrementAndGet()
            return GateDecision.Refuse(estimate)
        }
        // Taken now, into debt: the wait Bucket4j returns puts this sender behind every earlier one.
        val wait = bucket.consumeIgnoringRateLimits(tokens).nanoseconds
        if (wait > maxWait) {
            // Others reserved in between: this one would wait too long after all.
            bucket.addTokens(tokens)
            refused.incrementAndGet()
            return GateDecision.Refuse(wait)
        }
        passed.incrementAndGet()
        waited.incrementAndGet()
        return GateDecision.Pass(wait)
    }

    override fun refund(frame: Frame) {
        val tokens = tokensFor(frame)
        if (tokens == 0L) return
        bucket.addTokens(tokens)
        refunded.incrementAndGet()
    }

    /** The share of [capacity] spent now: 1.0 when the bucket is empty or senders have reserved into debt. */
    override fun pressure(): Double = (1.0 - bucket.availableTokens.toDouble() / capacity).coerceIn(0.0, 1.0)

    /** The pressure now and the counts so far; safe from any thread. */
    public fun metrics(): RateLimitMetrics = RateLimitMetrics(
        availableTokens = bucket.availableTokens,
        passed = passed.get(),
        waited = waited.get(),
        refused = refused.get(),
        refunded = refunded.get(),
    )

    override fun toString(): String = "TokenBucketGate(capacity=$capacity, maxWait=$maxWait, ${metrics()})"

    private fun tokensFor(frame: Frame): Long = cost.cost(frame).also {
        require(it in 0..capacity) { "a frame costs $it tokens, which a bucket of $capacity can never give" }
    }

    public companion object {
        /** For Java: [capacity] tokens, [refillTokens] more every [refillPeriod], each send waiting up to [maxWait]. */
        @JvmStatic
        @JvmOverloads
        public fun create(
            capacity: Long,
            refillTokens: Long,
            refillPeriod: java.time.Duration,
            maxWait: java.time.Duration = java.time.Duration.ZERO,
            cost: FrameCost = FrameCost { 1 },
        ): TokenBucketGate =
            TokenBucketGate(capacity, refillTokens, refillPeriod.toKotlinDuration(), maxWait.toKotlinDuration(), cost)
    }
}

/** What a frame costs in tokens: 1 for every frame, or an exchange's weights (a heavy request, a cheap one). */
public fun interface FrameCost {
    /** The tokens [frame] takes, from 0 (free) to the bucket's capacity. */
    public fun cost(frame: Frame): Long
}

/**
 * A [TokenBucketGate]'s pressure and counts.
 *
 * @property availableTokens tokens left now; negative while waiting senders have reserved ahead.
 * @property passed sends let through (at once or after waiting).
 * @property waited sends that had to wait for their tokens.
 * @property refused sends refused with `RateLimitedException`.
 * @property refunded frames whose tokens came back because they were not written.
 */
public data class RateLimitMetrics(
    val availableTokens: Long,
    val passed: Long,
    val waited: Long,
    val refused: Long,
    val refunded: Long,
)
