package dev.parley

import dev.parley.internal.Clock
import dev.parley.internal.ConnectionLoop
import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.transport.Opcode
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runTest
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * The heartbeat's bounds on virtual time, to the millisecond (the real-server smoke in HeartbeatSpec can only check
 * them with slack): a ping after exactly one idle interval, death exactly one pong timeout after that, not before.
 */
class HeartbeatBoundarySpec :
    FunSpec({
        val interval = 1.seconds
        val pongTimeout = 500.milliseconds

        /** A client on the virtual clock, for its timers and for the heartbeat's "last inbound" stamps alike. */
        fun TestScope.client(transport: FakeTransport, pongTimeout: Duration = 500.milliseconds): ParleyClient =
            ConnectionLoop.start(
                parent = backgroundScope,
                handler = RecordingHandler<Unit>(),
                initialState = Unit,
                options = parleyOptions {
                    url = "ws://fake.invalid/ws"
                    heartbeat {
                        this.interval = interval
                        this.pongTimeout = pongTimeout
                    }
                },
                transport = transport,
                dispatcher = StandardTestDispatcher(testScheduler),
                clock = Clock { testScheduler.currentTime * 1_000_000 },
            )

        fun TestScope.advance(by: kotlin.time.Duration) {
            testScheduler.advanceTimeBy(by)
            testScheduler.runCurrent()
        }

        test("a silent peer is pinged after exactly one interval and declared dead exactly one pong timeout later") {
            runTest {
                val transport = FakeTransport()
                val client = client(transport)
                client.state.first { it is ConnectionState.Connected }
                val session = transport.opened.single()

                advance(interval - 1.milliseconds)
                session.written.filter { it.opcode == Opcode.PING }.shouldBeEmpty()
                advance(1.milliseconds)
                session.written.count { it.opcode == Opcode.PING } shouldBe 1

                advance(pongTimeout - 1.milliseconds)
                client.state.value.shouldBeInstanceOf<ConnectionState.Connected>()
                advance(1.milliseconds)
                client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>().reason shouldBe
                    DisconnectReason.HeartbeatTimedOut(pongTimeout)
            }
        }

        test("an answered ping is followed by the next an interval later, even with a pong timeout longer than that") {
            runTest {
                val transport = FakeTransport()
                client(transport, pongTimeout = interval * 5)
                testScheduler.runCurrent()
                val session = transport.opened.single()
                fun pings() = session.written.filter { it.opcode == Opcode.PING }
                advance(interval)
                pings().size shouldBe 1
                session.feedPong(pings().last().payload)
                advance(interval - 1.milliseconds)
                pings().size shouldBe 1
                advance(1.milliseconds)
                pings().size shouldBe 2
            }
        }

        test("any frame after the ping is proof of life, even if the pong never comes") {
            runTest {
                val transport = FakeTransport()
                val client = client(transport)
                client.state.first { it is ConnectionState.Connected }
                val session = transport.opened.single()
                advance(interval)
                session.written.count { it.opcode == Opcode.PING } shouldBe 1
                advance(pongTimeout - 1.milliseconds)
                session.feedText("still here")
                advance(1.milliseconds)
                client.state.value.shouldBeInstanceOf<ConnectionState.Connected>()
                // The next ping comes a full interval after that frame, not after the first ping.
                advance(interval - 2.milliseconds)
                session.written.count { it.opcode == Opcode.PING } shouldBe 1
                advance(1.milliseconds)
                session.written.count { it.opcode == Opcode.PING } shouldBe 2
            }
        }
    })
