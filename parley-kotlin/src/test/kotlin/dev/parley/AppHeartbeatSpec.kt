package dev.parley

import dev.parley.internal.Clock
import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.fakeOptions
import dev.parley.support.virtualClient
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runTest
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** A text protocol for these specs: ping `ping:n`, its answer `pong:n`; the server's own ping `are you there`. */
private object TextHeartbeat : AppHeartbeat {
    override fun ping(sequence: Long) = Frame.Text("ping:$sequence")

    override fun pongSequence(frame: Frame): Long? =
        (frame as? Frame.Text)?.text?.takeIf { it.startsWith("pong:") }?.removePrefix("pong:")?.toLongOrNull()

    override fun answer(frame: Frame): Frame? =
        if ((frame as? Frame.Text)?.text == "are you there") Frame.Text("here") else null
}

/*
 * The application-level heartbeat at its boundaries, on virtual time over a fake transport (npm ws's JSON-RPC server
 * shows the same against a real peer in parley-jsonrpc's JsonRpcSpec).
 */
class AppHeartbeatSpec :
    FunSpec({
        val interval = 1.seconds
        val pongTimeout = 500.milliseconds

        /** The heartbeat's idle times on the virtual clock too. */
        fun TestScope.virtualClock() = Clock { testScheduler.currentTime * 1_000_000 }

        fun TestScope.advance(by: kotlin.time.Duration) {
            testScheduler.advanceTimeBy(by)
            testScheduler.runCurrent()
        }

        fun options() = fakeOptions {
            heartbeat {
                this.interval = interval
                this.pongTimeout = pongTimeout
                app = TextHeartbeat
            }
        }

        test("the ping message goes after exactly one idle interval; its answer is consumed and timed") {
            runTest {
                val transport = FakeTransport()
                val handler = RecordingHandler<Unit>()
                val client = virtualClient(handler, Unit, options(), transport, clock = virtualClock())
                client.state.first { it is ConnectionState.Connected }
                val session = transport.opened.single()
                advance(interval - 1.milliseconds)
                session.writtenTexts shouldBe emptyList()
                advance(1.milliseconds)
                session.writtenTexts shouldContainExactly listOf("ping:1")
                advance(200.milliseconds)
                session.feedText("pong:1")
                testScheduler.runCurrent()
                client.metrics().latency.count shouldBe 1
                handler.expect<Seen.Connected>()
                handler.seen.tryReceive().getOrNull() shouldBe null
            }
        }

        test(
            "protocol pings and pongs do not prove life: only messages do; dead exactly a pong timeout after the ping",
        ) {
            runTest {
                val transport = FakeTransport()
                val client = virtualClient(RecordingHandler<Unit>(), Unit, options(), transport, clock = virtualClock())
                client.state.first { it is ConnectionState.Connected }
                val session = transport.opened.single()
                advance(interval)
                session.writtenTexts shouldContainExactly listOf("ping:1")
                // The server's WebSocket layer is alive: a protocol ping now and then. Its application is not.
                session.feedPing()
                advance(pongTimeout - 1.milliseconds)
                client.state.value.shouldBeInstanceOf<ConnectionState.Connected>()
                advance(1.milliseconds)
                client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>().reason shouldBe
                    DisconnectReason.HeartbeatTimedOut(pongTimeout)
                client.metrics().consecutiveMissedHeartbeats shouldBe 1
            }
        }

        test("a server's own application ping is answered at once and never reaches the handler") {
            runTest {
                val transport = FakeTransport()
                val handler = RecordingHandler<Unit>()
                val client = virtualClient(handler, Unit, options(), transport, clock = virtualClock())
                client.state.first { it is ConnectionState.Connected }
                val session = transport.opened.single()
                session.feedText("are you there")
                session.feedText("news")
                testScheduler.runCurrent()
                session.writtenTexts shouldContainExactly listOf("here")
                handler.expect<Seen.Connected>()
                handler.expect<Seen.Received>().frame shouldBe Frame.Text("news")
            }
        }
    })
