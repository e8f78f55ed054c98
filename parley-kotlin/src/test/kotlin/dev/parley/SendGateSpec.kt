package dev.parley

import dev.parley.support.FakeSession
import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.fakeOptions
import dev.parley.support.virtualClient
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.UnconfinedTestDispatcher
import kotlinx.coroutines.test.runTest
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds

/** A gate for these specs: the n-th data frame passes after `n * spacing` from the first, or is refused past maxWait. */
private class SpacingGate(
    private val spacing: Duration,
    private val maxWait: Duration,
) : SendGate {
    val reserved = CopyOnWriteArrayList<String>()
    val refunded = CopyOnWriteArrayList<String>()
    private var ahead = 0

    @Synchronized
    override fun reserve(frame: Frame, mayWait: Boolean): GateDecision {
        val wait = spacing * ahead
        if (wait > Duration.ZERO && (!mayWait || wait > maxWait)) return GateDecision.Refuse(wait)
        ahead++
        reserved += (frame as Frame.Text).text
        return GateDecision.Pass(wait)
    }

    @Synchronized
    override fun refund(frame: Frame) {
        ahead--
        refunded += (frame as Frame.Text).text
    }
}

/*
 * The send path's gate (ParleyOptions.sendGate) on virtual time over a fake transport: senders wait their turn in
 * their own coroutines, trySend never waits, what fails before it is written is given back, and control frames and
 * pushes do not pass the gate. parley-ratelimit's token bucket is specified on its own in TokenBucketGateSpec.
 */
class SendGateSpec :
    FunSpec({
        test("senders wait the gate's time, in their own coroutines, and pass in the order they asked") {
            runTest {
                val gate = SpacingGate(100.milliseconds, maxWait = 1_000.milliseconds)
                val transport = FakeTransport()
                val client = virtualClient(RecordingHandler<Unit>(), Unit, fakeOptions { sendGate = gate }, transport)
                client.state.first { it is ConnectionState.Connected }
                val sentAt = CopyOnWriteArrayList<Long>()
                val senders = List(4) { i ->
                    launch {
                        client.send(Frame.Text("m$i"))
                        sentAt += testScheduler.currentTime
                    }
                }
                senders.forEach { it.join() }
                transport.opened.single().writtenTexts shouldContainExactly listOf("m0", "m1", "m2", "m3")
                sentAt shouldContainExactly listOf(0L, 100L, 200L, 300L)
                // Pings are not gated.
                client.send(Frame.Ping(byteArrayOf(1)))
                gate.reserved.size shouldBe 4
            }
        }

        test("a send that would wait too long, and any trySend that would wait, is RateLimitedException") {
            runTest {
                val gate = SpacingGate(400.milliseconds, maxWait = 500.milliseconds)
                val transport = FakeTransport()
                val client = virtualClient(RecordingHandler<Unit>(), Unit, fakeOptions { sendGate = gate }, transport)
                client.state.first { it is ConnectionState.Connected }
                client.send(Frame.Text("a"))
                client.trySend(Frame.Text("b")).shouldBeInstanceOf<SendResult.Rejected>().cause
                    .shouldBeInstanceOf<RateLimitedException>().retryAfterMillis shouldBe 400
                launch { client.send(Frame.Text("c")) } // waits 400 ms, within maxWait
                testScheduler.runCurrent()
                shouldThrow<RateLimitedException> { client.send(Frame.Text("d")) }.retryAfterMillis shouldBe 800
            }
        }

        test("refusals and waits are SendRateLimited and SendDelayed events, not even built while nobody collects") {
            runTest {
                val gate = SpacingGate(400.milliseconds, maxWait = 500.milliseconds)
                val transport = FakeTransport()
                val client = virtualClient(RecordingHandler<Unit>(), Unit, fakeOptions { sendGate = gate }, transport)
                client.state.first { it is ConnectionState.Connected }
                client.send(Frame.Text("a"))
                client.trySend(Frame.Text("unobserved")).shouldBeInstanceOf<SendResult.Rejected>()
                val seen = Channel<ParleyEvent>(Channel.UNLIMITED)
                backgroundScope.launch(UnconfinedTestDispatcher(testScheduler)) { client.events.collect(seen::send) }
                // The replayed latest event is still Connected: the unobserved refusal made none.
                seen.receive().shouldBeInstanceOf<ParleyEvent.Connected>()
                client.trySend(Frame.Text("b")).shouldBeInstanceOf<SendResult.Rejected>()
                launch { client.send(Frame.Text("c")) }
                testScheduler.runCurrent()
                shouldThrow<RateLimitedException> { client.send(Frame.Text("d")) }
                List(3) { seen.receive() } shouldContainExactly listOf(
                    ParleyEvent.SendRateLimited(400.milliseconds),
                    ParleyEvent.SendDelayed(400.milliseconds),
                    ParleyEvent.SendRateLimited(800.milliseconds),
                )
                // The counts include the refusal nobody saw as an event.
                client.metrics().sendsRateLimited shouldBe 3
                client.metrics().sendsDelayed shouldBe 1
            }
        }

        test("a frame that fails before it is written gives its cost back; a cancelled waiter too") {
            runTest {
                val gate = SpacingGate(100.milliseconds, maxWait = 10_000.milliseconds)
                val stuck = CompletableDeferred<Unit>()
                val transport = FakeTransport { FakeSession(writes = stuck) }
                val client = virtualClient(RecordingHandler<Unit>(), Unit, fakeOptions { sendGate = gate }, transport)
                client.state.first { it is ConnectionState.Connected }
                val inFlight = client.enqueue(Frame.Text("in flight"))
                testScheduler.runCurrent()
                transport.opened.single().writeStarted.await()
                val queued = launch { runCatching { client.send(Frame.Text("queued")) } }
                testScheduler.advanceTimeBy(100.milliseconds)
                testScheduler.runCurrent()
                val waiting = launch { client.send(Frame.Text("cancelled")) }
                testScheduler.runCurrent()
                waiting.cancel()
                testScheduler.runCurrent()
                transport.opened.single().drop()
                testScheduler.runCurrent()
                queued.join()
                inFlight.isCompleted shouldBe true
                // The queued frame was certainly not written, the waiter never sent: both cost back. The one being
                // written may have reached the peer, so its cost stays spent.
                gate.refunded shouldContainExactly listOf("cancelled", "queued")
            }
        }

        test("a frame the client cannot take never asks the gate; one prepareFrame refuses gets its cost back") {
            runTest {
                val gate = SpacingGate(100.milliseconds, maxWait = 10_000.milliseconds)
                val options = fakeOptions {
                    sendGate = gate
                    prepareFrame { frame -> if ((frame as Frame.Text).text == "bad") error("cannot sign") else frame }
                }
                val client = virtualClient(RecordingHandler<Unit>(), Unit, options, FakeTransport())
                client.state.first { it is ConnectionState.Connected }
                shouldThrow<IllegalStateException> { client.send(Frame.Text("bad")) }
                gate.refunded shouldContainExactly listOf("bad")
                client.disconnect()
                shouldThrow<NotConnectedException> { client.send(Frame.Text("down")) }
                gate.reserved shouldContainExactly listOf("bad")
            }
        }

        test("a handler's pushes do not pass the gate") {
            runTest {
                val gate = SpacingGate(100.milliseconds, maxWait = 0.milliseconds)
                val transport = FakeTransport()
                val handler = RecordingHandler<Unit>(onConnected = { s -> HandlerAction.Push(Frame.Text("hello"), s) })
                val client = virtualClient(handler, Unit, fakeOptions { sendGate = gate }, transport)
                client.state.first { it is ConnectionState.Connected }
                testScheduler.runCurrent()
                transport.opened.single().writtenTexts shouldContainExactly listOf("hello")
                gate.reserved shouldBe emptyList()
            }
        }
    })
