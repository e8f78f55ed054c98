package dev.parley

import dev.parley.internal.ConnectionLoop
import dev.parley.internal.IncomingHandler
import dev.parley.support.FakeTransport
import dev.parley.testing.KtorTestServer
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.seconds

/** The handler-less face: `startParley(options)` and `incoming`, a flow of whole messages with back-pressure. */
class IncomingSpec :
    FunSpec({
        val fakeOptions = parleyOptions {
            url = "ws://fake.invalid/ws"
            maxPendingCallbacks = 8
        }

        /** A client without a handler on the virtual clock, over [transport]; its handler gives the flow. */
        fun TestScope.incomingClient(transport: FakeTransport): Pair<ParleyClient, IncomingHandler> {
            val handler = IncomingHandler(fakeOptions.maxBufferedInboundBytes)
            val client =
                ConnectionLoop.start(
                    backgroundScope as CoroutineScope,
                    handler,
                    Unit,
                    fakeOptions,
                    transport,
                    StandardTestDispatcher(testScheduler),
                )
            return client to handler
        }

        test("messages arrive on incoming in order, across a reconnect; the flow completes when the client stops") {
            KtorTestServer().start().use { server ->
                val options = parleyOptions {
                    url = server.url()
                    reconnect {
                        baseDelay = 0.01.seconds
                        maxDelay = 0.02.seconds
                    }
                }
                withTimeout(20.seconds) {
                    val client = Parley.start(options)
                    client.state.first { it is ConnectionState.Connected }
                    client.send(Frame.Text("one"))
                    client.send(Frame.Text("two"))
                    client.incoming.take(2).toList() shouldBe listOf(Frame.Text("one"), Frame.Text("two"))
                    server.stop()
                    server.start()
                    client.state.first { it is ConnectionState.Connected && it.connection == 2L }
                    client.send(Frame.Binary(byteArrayOf(3)))
                    client.incoming.first() shouldBe Frame.Binary(byteArrayOf(3))
                    client.stop()
                    client.incoming.toList() shouldBe emptyList()
                }
            }
        }

        test("while nobody collects, the client stops reading once 64 messages and its window wait, and stop() works") {
            runTest {
                val transport = FakeTransport()
                val (client, handler) = incomingClient(transport)
                client.state.first { it is ConnectionState.Connected }
                val session = transport.opened.single()
                repeat(500) { session.feedText("m$it") }
                // The client runs in the background scope, which advanceUntilIdle() leaves alone.
                testScheduler.runCurrent()
                // 64 in the channel, 8 hand-overs waiting in the window, the one the loop waits to hand over, and the
                // 16 reports its reader may run ahead of the loop: not 500.
                client.metrics().pendingCallbacks shouldBe 8
                client.metrics().framesReceived shouldBe 64L + 8 + 1 + 16
                // Collecting lets it read on, in order.
                handler.incoming.take(500).toList() shouldBe List(500) { Frame.Text("m$it") }
                client.stop()
                client.state.value.shouldBeInstanceOf<ConnectionState.Stopped>()
            }
        }

        test("stop() gets through while hand-overs wait for a collector that never comes") {
            runTest {
                val transport = FakeTransport()
                val (client, _) = incomingClient(transport)
                client.state.first { it is ConnectionState.Connected }
                repeat(200) { transport.opened.single().feedText("m$it") }
                testScheduler.runCurrent()
                withTimeout(5.seconds) { client.stop() }
                client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
            }
        }
    })
