package dev.parley.ratelimit

import dev.parley.Frame
import dev.parley.GateDecision
import dev.parley.RateLimitedException
import dev.parley.SendResult
import dev.parley.support.awaitConnected
import dev.parley.support.withRecordedClient
import dev.parley.testkit.WebSocketTestServer
import io.github.bucket4j.TimeMeter
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runInterruptible
import kotlin.random.Random
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** A clock the spec moves by hand, so the bucket's 10 s pass in no time. */
private class ManualClock : TimeMeter {
    var nanos = 0L

    override fun currentTimeNanos(): Long = nanos

    override fun isWallClockBased(): Boolean = false
}

/*
 * The token bucket on a clock of its own (every decision exact), then on a real client against the testkit's server.
 */
class TokenBucketGateSpec :
    FunSpec({
        val text = Frame.Text("order")

        test("over 10 s of bursty sends the limit holds within one token, and waiting senders pass in order") {
            val clock = ManualClock()
            val gate =
                TokenBucketGate(
                    capacity = 5,
                    refillTokens = 5,
                    refillPeriod = 1.seconds,
                    maxWait = 60.seconds,
                    clock = clock,
                )
            val random = Random(7)
            val passAt = mutableListOf<Long>()
            while (clock.nanos < 10.seconds.inWholeNanoseconds) {
                // A burst of 1–12 sends, then a pause of up to 900 ms.
                repeat(random.nextInt(1, 13)) {
                    val decision = gate.reserve(text, mayWait = true).shouldBeInstanceOf<GateDecision.Pass>()
                    passAt += clock.nanos + decision.after.inWholeNanoseconds
                }
                clock.nanos += random.nextLong(0, 900).milliseconds.inWholeNanoseconds
            }
            // In order: each sender passes no earlier than the one that asked before it.
            passAt shouldBe passAt.sorted()
            // Within any window, no more than the capacity plus what refilled meanwhile, plus one token of rounding.
            for (i in passAt.indices) {
                for (j in i until passAt.size) {
                    val refilled = 5.0 * (passAt[j] - passAt[i]) / 1.seconds.inWholeNanoseconds
                    (j - i + 1 <= 5 + refilled + 1) shouldBe true
                }
            }
            (passAt.size > 50) shouldBe true
        }

        test("failing fast: refused with the time until the frame could pass, nothing taken") {
            val clock = ManualClock()
            val gate = TokenBucketGate(capacity = 2, refillTokens = 10, refillPeriod = 1.seconds, clock = clock)
            repeat(2) { gate.reserve(text, mayWait = true) shouldBe GateDecision.Pass(Duration.ZERO) }
            gate.reserve(text, mayWait = true) shouldBe GateDecision.Refuse(100.milliseconds)
            clock.nanos += 100.milliseconds.inWholeNanoseconds
            gate.reserve(text, mayWait = false) shouldBe GateDecision.Pass(Duration.ZERO)
            gate.metrics().refused shouldBe 1
        }

        test("a refund gives the tokens back, and costs weigh frames differently") {
            val clock = ManualClock()
            val heavy = Frame.Text("private/buy")
            val gate = TokenBucketGate(
                capacity = 10,
                refillTokens = 1,
                refillPeriod = 1.seconds,
                clock = clock,
                cost = FrameCost { if ((it as Frame.Text).text.startsWith("private/")) 8 else 1 },
            )
            gate.reserve(heavy, mayWait = false) shouldBe GateDecision.Pass(Duration.ZERO)
            gate.metrics().availableTokens shouldBe 2
            gate.pressure() shouldBe 0.8
            gate.reserve(heavy, mayWait = false).shouldBeInstanceOf<GateDecision.Refuse>()
            gate.refund(heavy)
            gate.reserve(heavy, mayWait = false) shouldBe GateDecision.Pass(Duration.ZERO)
            shouldThrow<IllegalArgumentException> {
                TokenBucketGate(3, 1, 1.seconds, cost = FrameCost { 4 }).reserve(text, mayWait = true)
            }
        }

        test("on a real client: senders wait their turn and all arrive in order; fail-fast refuses with the wait") {
            WebSocketTestServer.builder().start().use { server ->
                val gate =
                    TokenBucketGate(capacity = 2, refillTokens = 20, refillPeriod = 1.seconds, maxWait = 5.seconds)
                withRecordedClient({
                    url = server.url()
                    sendGate = gate
                }) { client, _ ->
                    client.awaitConnected()
                    repeat(6) { client.send(Frame.Text("m$it")) }
                    val connection = runInterruptible(Dispatchers.IO) { server.awaitConnection() }
                    runInterruptible(Dispatchers.IO) { repeat(6) { connection.expectText("m$it") } }
                    gate.metrics().waited shouldBe 4
                }
                val strict = TokenBucketGate(capacity = 1, refillTokens = 1, refillPeriod = 1.seconds)
                withRecordedClient({
                    url = server.url()
                    sendGate = strict
                }) { client, _ ->
                    client.awaitConnected()
                    client.send(Frame.Text("first"))
                    val refused = shouldThrow<RateLimitedException> { client.send(Frame.Text("second")) }
                    (refused.retryAfterMillis in 1..1000) shouldBe true
                    client.trySend(Frame.Text("third")).shouldBeInstanceOf<SendResult.Rejected>().cause
                        .shouldBeInstanceOf<RateLimitedException>()
                    listOf(strict.metrics().passed, strict.metrics().refused) shouldContainExactly listOf(1L, 2L)
                }
            }
        }
    })
