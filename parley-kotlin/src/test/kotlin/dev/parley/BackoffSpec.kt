package dev.parley

import dev.parley.internal.backoffDelay
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.booleans.shouldBeTrue
import io.kotest.matchers.longs.shouldBeGreaterThan
import io.kotest.matchers.longs.shouldBeLessThan
import io.kotest.matchers.longs.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.math.BigInteger
import kotlin.random.Random
import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** The nominal delay `d = min(base * 2^attempt, max)` in milliseconds, computed without any overflow. */
private fun nominalMillis(policy: ReconnectPolicy, attempt: Int): Long {
    val base = BigInteger.valueOf(policy.baseDelay.inWholeMilliseconds)
    val max = BigInteger.valueOf(policy.maxDelay.inWholeMilliseconds)
    // 2^attempt for a huge attempt is astronomically large; any exponent past 64 is already past every Long cap.
    return base.shiftLeft(attempt.coerceAtMost(200)).min(max).toLong()
}

/** Asserts [delay] lies in `(d/2, d]` for the nominal delay of [attempt]. */
private fun assertWithinEqualJitter(policy: ReconnectPolicy, attempt: Int, delay: Duration) {
    val d = nominalMillis(policy, attempt)
    val ms = delay.inWholeMilliseconds
    withClue("attempt $attempt of $policy gave $delay; nominal d = $d ms, so it must lie in (d/2, d]") {
        // ms > d/2 without rounding: 2*ms > d, in BigInteger so that 2*ms cannot overflow.
        (BigInteger.valueOf(ms).shiftLeft(1) > BigInteger.valueOf(d)).shouldBeTrue()
        ms shouldBeLessThanOrEqual d
    }
}

class BackoffSpec :
    FunSpec({
        context("the delay of the n-th reconnect") {
            test("every delay for attempts 0..20 lies in (d/2, d] where d = min(base * 2^n, max)") {
                val policy = ReconnectPolicy(baseDelay = 100.milliseconds, maxDelay = 30.seconds)
                for (seed in 0 until 20) {
                    val random = Random(seed)
                    for (attempt in 0..20) {
                        repeat(50) { assertWithinEqualJitter(policy, attempt, backoffDelay(policy, attempt, random)) }
                    }
                }
            }

            test("the default policy waits 0.5-1 s first, then doubles, and caps at 15-30 s") {
                val random = Random(7)
                val policy = ReconnectPolicy.DEFAULT
                repeat(200) {
                    backoffDelay(policy, 0, random).inWholeMilliseconds.let {
                        it shouldBeGreaterThan 500
                        it shouldBeLessThanOrEqual 1_000
                    }
                    backoffDelay(policy, 1, random).inWholeMilliseconds.let {
                        it shouldBeGreaterThan 1_000
                        it shouldBeLessThanOrEqual 2_000
                    }
                    backoffDelay(policy, 20, random).inWholeMilliseconds.let {
                        it shouldBeGreaterThan 15_000
                        it shouldBeLessThanOrEqual 30_000
                    }
                }
            }

            test("no delay exceeds maxDelay, whatever the attempt") {
                val policies = listOf(
                    ReconnectPolicy(baseDelay = 50.milliseconds, maxDelay = 200.milliseconds),
                    ReconnectPolicy(baseDelay = 1.seconds, maxDelay = 1.seconds),
                    ReconnectPolicy(baseDelay = 3.milliseconds, maxDelay = 7.milliseconds),
                    ReconnectPolicy(baseDelay = 2.milliseconds, maxDelay = 1_000_000.seconds),
                )
                val attempts = (0..100).toList() + listOf(1_000, 65_535, Int.MAX_VALUE - 1, Int.MAX_VALUE)
                val random = Random(11)
                for (policy in policies) {
                    for (attempt in attempts) {
                        val delay = backoffDelay(policy, attempt, random)
                        withClue("attempt $attempt of $policy gave $delay") {
                            (delay <= policy.maxDelay).shouldBeTrue()
                            delay.isPositive().shouldBeTrue()
                        }
                        assertWithinEqualJitter(policy, attempt, delay)
                    }
                }
            }

            test("attempt Int.MAX_VALUE with a 1 ms base and a huge maxDelay neither overflows nor goes negative") {
                val huge = (Long.MAX_VALUE / 4).milliseconds
                val policy = ReconnectPolicy(baseDelay = 1.milliseconds, maxDelay = huge)
                val random = Random(3)
                for (attempt in listOf(60, 61, 62, 63, 64, 65, 100, Int.MAX_VALUE)) {
                    val delay = backoffDelay(policy, attempt, random)
                    assertWithinEqualJitter(policy, attempt, delay)
                }
                // Below the cap the doubling is exact: for n in 1..61 the delay lies in (2^(n-1), 2^n] ms.
                for (attempt in 1..61) assertWithinEqualJitter(policy, attempt, backoffDelay(policy, attempt, random))
            }

            test("a base so large that base * 2^n leaves the Long range is capped, not wrapped") {
                val policy = ReconnectPolicy(
                    baseDelay = (Long.MAX_VALUE / 16).milliseconds,
                    maxDelay = (Long.MAX_VALUE / 4).milliseconds,
                )
                val random = Random(5)
                for (attempt in listOf(0, 1, 2, 3, 5, 10, 63, 64, Int.MAX_VALUE)) {
                    assertWithinEqualJitter(policy, attempt, backoffDelay(policy, attempt, random))
                }
            }

            test("an infinite maxDelay gives positive delays that keep doubling, without overflow") {
                val policy = ReconnectPolicy(baseDelay = 1.milliseconds, maxDelay = Duration.INFINITE)
                val random = Random(9)
                for (attempt in listOf(10, 40, 61, 62, 63, 1_000, Int.MAX_VALUE)) {
                    val delay = backoffDelay(policy, attempt, random)
                    withClue("attempt $attempt gave $delay") {
                        delay.isPositive().shouldBeTrue()
                    }
                }
                backoffDelay(policy, 10, random).inWholeMilliseconds.let {
                    it shouldBeGreaterThan 512
                    it shouldBeLessThanOrEqual 1_024
                }
            }

            test("equal jitter spreads the delays over the whole upper half, not a single value") {
                val policy = ReconnectPolicy(baseDelay = 100.milliseconds, maxDelay = 30.seconds)
                val random = Random(42)
                val samples = List(1_000) { backoffDelay(policy, 3, random).inWholeMilliseconds } // d = 800 ms
                val min = samples.min()
                val max = samples.max()
                withClue("1000 samples at d = 800 ms ranged over [$min, $max]") {
                    (min != max).shouldBeTrue()
                    min shouldBeLessThan 440 // near the bottom of (400, 800]
                    max shouldBeGreaterThan 760 // and near its top
                    samples.toSet().size.toLong() shouldBeGreaterThan 200
                }
            }

            test("the same seed gives the same delays") {
                val policy = ReconnectPolicy(baseDelay = 100.milliseconds, maxDelay = 30.seconds)
                val a = Random(1234)
                val b = Random(1234)
                List(30) { backoffDelay(policy, it, a) } shouldBe List(30) { backoffDelay(policy, it, b) }
            }

            test("a 1 ms base waits 1 ms on the first reconnect, as (d/2, d] with d = 1 ms allows nothing else") {
                val policy = ReconnectPolicy(baseDelay = 1.milliseconds, maxDelay = 1.seconds)
                backoffDelay(policy, 0, Random(1)) shouldBe 1.milliseconds
            }

            test("a policy capped at 1 ms never waits longer than its 1 ms maxDelay") {
                val policy = ReconnectPolicy(baseDelay = 1.milliseconds, maxDelay = 1.milliseconds)
                val random = Random(1)
                for (attempt in listOf(0, 1, 5, Int.MAX_VALUE)) {
                    val delay = backoffDelay(policy, attempt, random)
                    withClue("attempt $attempt gave $delay") { (delay <= policy.maxDelay).shouldBeTrue() }
                }
            }
        }

        context("ReconnectPolicy validation") {
            test("a baseDelay under 1 ms is rejected, naming baseDelay") {
                for (bad in listOf(Duration.ZERO, (-1).seconds, 999.microseconds)) {
                    shouldThrow<IllegalArgumentException> { ReconnectPolicy(baseDelay = bad) }
                        .message shouldContain "baseDelay"
                }
            }

            test("a maxDelay below baseDelay is rejected, naming maxDelay") {
                shouldThrow<IllegalArgumentException> {
                    ReconnectPolicy(baseDelay = 2.seconds, maxDelay = 1.seconds)
                }.message shouldContain "maxDelay"
            }

            test("a negative maxRetries is rejected, naming maxRetries") {
                shouldThrow<IllegalArgumentException> { ReconnectPolicy(maxRetries = -1) }
                    .message shouldContain "maxRetries"
            }

            test("a negative stableAfter is rejected, naming stableAfter") {
                shouldThrow<IllegalArgumentException> { ReconnectPolicy(stableAfter = (-1).milliseconds) }
                    .message shouldContain "stableAfter"
            }

            test("the boundary values are accepted: 1 ms base, maxDelay equal to base, 0 retries, stable at once") {
                val policy = ReconnectPolicy(
                    baseDelay = 1.milliseconds,
                    maxDelay = 1.milliseconds,
                    maxRetries = 0,
                    stableAfter = Duration.ZERO,
                )
                policy.maxRetries shouldBe 0
            }

            test("the options builder reports a bad reconnect block with the field's name") {
                shouldThrow<IllegalArgumentException> {
                    parleyOptions {
                        url = "ws://127.0.0.1:1/ws"
                        reconnect { baseDelay = Duration.ZERO }
                    }
                }.message shouldContain "reconnect.baseDelay"
                shouldThrow<IllegalArgumentException> {
                    parleyOptions {
                        url = "ws://127.0.0.1:1/ws"
                        reconnect { maxRetries = -3 }
                    }
                }.message shouldContain "reconnect.maxRetries"
            }

            test("reconnect {} without arguments gives the documented defaults") {
                parleyOptions {
                    url = "ws://127.0.0.1:1/ws"
                    reconnect()
                }.reconnect shouldBe ReconnectPolicy(1.seconds, 30.seconds, null, 10.seconds)
            }
        }
    })
