package dev.parley

import dev.parley.internal.ConnectionLoop
import dev.parley.internal.IncomingHandler
import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.awaitConnected
import dev.parley.support.fakeOptions
import dev.parley.support.stopBounded
import dev.parley.support.virtualClient
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.WsOpcode
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.shouldBe
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.io.IOException
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.time.Duration.Companion.seconds

private const val MIB = 1024 * 1024

/** Answers every message with a fresh [HandlerAction.Later] the test completes; records the messages' sizes. */
private class HoldingHandler : RecordingHandler<Unit>() {
    val results: MutableList<CompletableDeferred<HandlerAction<Unit>>> = CopyOnWriteArrayList()
    val sizes: MutableList<Int> = CopyOnWriteArrayList()

    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> {
        sizes += (frame as Frame.Binary).bytes.size
        return HandlerAction.Later(CompletableDeferred<HandlerAction<Unit>>().also { results += it }, state)
    }
}

/**
 * The inbound path bounds memory in bytes, not only in messages (issue 9, item 15): received messages held for the
 * handler — read and waiting for the loop, or answered by a result that completes later, or waiting in `incoming` —
 * may take `maxBufferedInboundBytes` (plus about 100 bytes each), beyond which the client stops reading. One message
 * larger than the budget still passes alone. Fake-transport specs run on virtual time with fixed interleavings;
 * the real-server smoke counts what a flooding peer got through.
 */
class InboundBudgetSpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 60.seconds)

        test("results that finish later hold their messages' bytes: at 3 MiB the client reads no 1 MiB message more") {
            runTest {
                val handler = HoldingHandler()
                val transport = FakeTransport()
                val options = fakeOptions {
                    maxBufferedInboundBytes = 3L * MIB
                    maxFrameSize = 2L * MIB
                }
                val client = virtualClient(handler, Unit, options, transport)
                client.awaitConnected()
                val session = transport.opened.single()
                repeat(20) { session.feedBinary(ByteArray(MIB)) }
                testScheduler.runCurrent()

                // Two messages (2 MiB and 192 bytes) fit; the third would not, so the reader holds it, counted as
                // received but not handed on, and reads nothing more — far below the window of 256 results.
                withClue("messages handed to the handler with 3 MiB of budget") { handler.results.size shouldBe 2 }
                client.metrics().framesReceived shouldBe 3
                client.metrics().pendingCallbacks shouldBe 2

                // A settled result gives its message's bytes back: the held message goes through, and one more is read.
                handler.results[0].complete(HandlerAction.Ok(Unit))
                testScheduler.runCurrent()
                handler.results.size shouldBe 3
                client.metrics().framesReceived shouldBe 4

                var next = 1
                while (next < handler.results.size) {
                    handler.results[next++].complete(HandlerAction.Ok(Unit))
                    testScheduler.runCurrent()
                }
                handler.results.size shouldBe 20
                handler.sizes.all { it == MIB } shouldBe true
                stopBounded(client)
            }
        }

        test("a message larger than the whole budget passes once nothing else is held") {
            runTest {
                val handler = HoldingHandler()
                val transport = FakeTransport()
                val options = fakeOptions {
                    maxBufferedInboundBytes = 1L * MIB
                    maxFrameSize = 4L * MIB
                }
                val client = virtualClient(handler, Unit, options, transport)
                client.awaitConnected()
                val session = transport.opened.single()
                repeat(3) { session.feedBinary(ByteArray(2 * MIB)) }
                testScheduler.runCurrent()
                handler.results.size shouldBe 1
                handler.results[0].complete(HandlerAction.Ok(Unit))
                testScheduler.runCurrent()
                handler.results.size shouldBe 2
                handler.results[1].complete(HandlerAction.Ok(Unit))
                testScheduler.runCurrent()
                handler.results.size shouldBe 3
                stopBounded(client)
            }
        }

        test("a handler that answers at once gives every message's bytes back: 100 MiB pass through 3 MiB of budget") {
            runTest {
                val handler = RecordingHandler<Unit>()
                val transport = FakeTransport()
                val client = virtualClient(handler, Unit, fakeOptions { maxBufferedInboundBytes = 3L * MIB }, transport)
                client.awaitConnected()
                val session = transport.opened.single()
                repeat(100) { session.feedBinary(ByteArray(MIB)) }
                testScheduler.runCurrent()
                client.metrics().framesReceived shouldBe 100
                stopBounded(client)
            }
        }

        test("without a collector, incoming holds its budget and the client's, then stops reading; nothing is lost") {
            runTest {
                val options = fakeOptions { maxBufferedInboundBytes = 3L * MIB }
                val handler = IncomingHandler(options.maxBufferedInboundBytes)
                val transport = FakeTransport()
                val client =
                    ConnectionLoop.start(
                        backgroundScope as CoroutineScope,
                        handler,
                        Unit,
                        options,
                        transport,
                        StandardTestDispatcher(testScheduler),
                    )
                client.awaitConnected()
                val session = transport.opened.single()
                repeat(20) { i -> session.feedBinary(ByteArray(MIB) { i.toByte() }) }
                testScheduler.runCurrent()

                // Two messages wait in incoming (its 3 MiB), two more wait to go in (the client's 3 MiB), and the
                // reader holds the fifth.
                client.metrics().framesReceived shouldBe 5
                val firsts = Channel<Byte>(Channel.UNLIMITED)
                val collector = backgroundScope.launchCollect(handler, firsts)
                testScheduler.runCurrent()
                withTimeout(5.seconds) { List(20) { firsts.receive() } } shouldBe List(20) { it.toByte() }
                collector.cancel()
                stopBounded(client)
            }
        }

        test("a real peer flooding 256 KiB messages gets 3 through a 1 MiB budget while the results are held") {
            RawWebSocketServer().use { server ->
                val handler = HoldingHandler()
                val options = parleyOptions {
                    url = server.url()
                    maxBufferedInboundBytes = 1L * MIB
                }
                val client = Parley.start(handler, Unit, options)
                val flooding = CoroutineScope(Dispatchers.IO)
                try {
                    val peer = server.awaitConnection()
                    // The peer writes on while TCP takes it; what the client does not read stays in socket buffers.
                    flooding.launch {
                        try {
                            repeat(64) { peer.sendFrame(WsOpcode.BINARY, ByteArray(256 * 1024)) }
                        } catch (e: IOException) {
                            // The client stopped, as the test does once it has counted: the flood ends there.
                        }
                    }
                    withTimeout(10.seconds) { while (handler.results.size < 3) delay(5) }
                    // A bounded check of absence: a fourth message would come within milliseconds if it could.
                    withTimeoutOrNull(1.seconds) { while (handler.results.size == 3) delay(10) }
                    withClue("messages handed over with 1 MiB of budget (3 × 256 KiB fit, a fourth would not)") {
                        handler.results.size shouldBe 3
                    }
                    client.metrics().framesReceived shouldBe 4
                } finally {
                    flooding.cancel()
                    withTimeout(10.seconds) { client.stop() }
                }
            }
        }
    })

private fun CoroutineScope.launchCollect(handler: IncomingHandler, firsts: Channel<Byte>) =
    launch { handler.incoming.collect { firsts.send((it as Frame.Binary).bytes[0]) } }
