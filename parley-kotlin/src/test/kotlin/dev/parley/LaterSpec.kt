package dev.parley

import dev.parley.internal.closeFrame
import dev.parley.support.FakeSession
import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.ScriptedSession
import dev.parley.support.ScriptedTransport
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.awaitState
import dev.parley.support.fakeOptions
import dev.parley.support.stopBounded
import dev.parley.support.virtualClient
import dev.parley.testing.RawFrame
import dev.parley.testing.RawPeer
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.WsOpcode
import dev.parley.testkit.WebSocketTestServer
import dev.parley.transport.Opcode
import dev.parley.transport.WireFrame
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldNotContain
import io.kotest.matchers.longs.shouldBeLessThan
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import io.kotest.matchers.types.shouldBeSameInstanceAs
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.net.SocketTimeoutException
import java.nio.ByteBuffer
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** The close code of a close frame the client wrote, or `null` for an empty one. */
private val WireFrame.closeCode: Int?
    get() = if (payload.size >= 2) ByteBuffer.wrap(payload).short.toInt() and 0xFFFF else null

/** The client's next frame within [timeout], or `null` if it sends none by then (a bounded check of absence). */
private suspend fun RawPeer.frameWithin(timeout: Duration): RawFrame? = try {
    readFrame(timeout)
} catch (e: AssertionError) {
    if (generateSequence<Throwable>(e) { it.cause }.take(10).any { it is SocketTimeoutException }) null else throw e
}

/**
 * A handler whose onFrame (and onInfo) answers every message with [HandlerAction.Later], holding a fresh result per
 * callback in [results] (in callback order) for the test to complete.
 */
private class LaterHandler : RecordingHandler<Unit>() {
    val results: MutableList<CompletableDeferred<HandlerAction<Unit>>> = CopyOnWriteArrayList()

    private fun later(state: Unit): HandlerAction<Unit> =
        HandlerAction.Later(CompletableDeferred<HandlerAction<Unit>>().also { results += it }, state)

    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> {
        super.onFrame(frame, state)
        return later(state)
    }

    override suspend fun onInfo(message: Any, state: Unit): HandlerAction<Unit> {
        super.onInfo(message, state)
        return later(state)
    }
}

private fun push(text: String): HandlerAction<Unit> = HandlerAction.Push(Frame.Text(text), Unit)

/**
 * [HandlerAction.Later]: a callback hands back a result that completes later, and the client reads on meanwhile, up
 * to [ParleyOptions.maxPendingCallbacks] outstanding results. The results are carried out in callback order, before
 * anything the client writes in answer to a later event, and only on the connection they answer; a stop no longer
 * waits for them. Fake-transport specs run on virtual time with fixed interleavings (`runCurrent` lets every ready
 * coroutine run to its next suspension); raw-peer specs check the bytes on the wire. Every wait is bounded.
 */
class LaterSpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 60.seconds)

        /** A parent for a client that fails (a linked client fails its scope); the failure is not the test's. */
        fun failingParent() = CoroutineScope(Job() + CoroutineExceptionHandler { _, _ -> })

        context("order") {
            test("results are carried out in the order their callbacks returned, even when they complete in reverse") {
                runTest {
                    val handler = LaterHandler()
                    val transport = FakeTransport()
                    val client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    repeat(3) { session.feedText("message-$it") }
                    testScheduler.runCurrent()
                    handler.results.size shouldBe 3
                    client.metrics().pendingCallbacks shouldBe 3

                    handler.results[2].complete(push("answer-2"))
                    testScheduler.runCurrent()
                    handler.results[1].complete(push("answer-1"))
                    testScheduler.runCurrent()
                    withClue("nothing may be carried out while the oldest result is outstanding") {
                        session.writtenTexts.shouldBeEmpty()
                        // Two have completed and wait behind the oldest; only it is still outstanding.
                        client.metrics().pendingCallbacks shouldBe 1
                    }
                    handler.results[0].complete(push("answer-0"))
                    testScheduler.runCurrent()
                    session.writtenTexts shouldBe listOf("answer-0", "answer-1", "answer-2")
                    client.metrics().pendingCallbacks shouldBe 0
                    stopBounded(client)
                }
            }

            test("pushes completed in reverse order reach a real peer in callback order") {
                WebSocketTestServer.builder().start().use { server ->
                    val handler = LaterHandler()
                    val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                    try {
                        val peer = server.awaitConnection()
                        handler.expect<Seen.Connected>()
                        repeat(3) { peer.sendText("message-$it") }
                        repeat(3) { handler.expect<Seen.Received>() }
                        // A callback is seen before it makes its result: wait (bounded) until the third has made it.
                        withTimeout(5.seconds) { while (handler.results.size < 3) delay(1) }
                        // Completed in reverse; each callback has returned once the next one was called, and the
                        // third has at least made its result: completing a result before it is held changes no order.
                        for (i in 2 downTo 0) handler.results[i].complete(push("answer-$i"))
                        for (i in 0..2) peer.expectText("answer-$i")
                    } finally {
                        withTimeoutOrNull(10.seconds) { client.stop() }
                    }
                }
            }
        }

        context("the window of outstanding results (maxPendingCallbacks)") {
            test(
                "at N outstanding results the client stops reading at N + 17 frames, and reads on once half are done",
            ) {
                runTest {
                    val n = 4
                    val handler = LaterHandler()
                    val transport = FakeTransport()
                    val client = virtualClient(handler, Unit, fakeOptions { maxPendingCallbacks = n }, transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    repeat(60) { session.feedText("message-$it") }
                    testScheduler.runCurrent()

                    // The loop took N messages, each answered with Later, and then waits for room. The reader ran
                    // ahead of it: the loop's event channel buffers 16 reports (EVENT_CAPACITY in ConnectionLoop), and
                    // the reader holds one more frame it has read (and counted) but cannot hand over. So exactly
                    // N + 16 + 1 frames are read, and no more however long we wait.
                    val stalledAt = n + 16 + 1L
                    client.metrics().pendingCallbacks shouldBe n
                    handler.results.size shouldBe n
                    client.metrics().framesReceived shouldBe stalledAt
                    testScheduler.advanceTimeBy(5.seconds) // below stableAfter (10 s): no timer fires
                    testScheduler.runCurrent()
                    withClue("the client kept reading with a full window") {
                        client.metrics().framesReceived shouldBe stalledAt
                        handler.results.size shouldBe n
                    }

                    // One free place is not enough: reading on for a single frame per completed result would wake the
                    // client's thread once per message while the callbacks lag behind.
                    handler.results[0].complete(HandlerAction.Ok(Unit))
                    testScheduler.runCurrent()
                    withClue("the client read on with the window still more than half full") {
                        handler.results.size shouldBe n
                        client.metrics().pendingCallbacks shouldBe n - 1
                    }

                    // Half the window free: the loop takes messages until it is full again, and the reader hands
                    // over the frame it held and reads as many more as the loop took.
                    handler.results[1].complete(HandlerAction.Ok(Unit))
                    testScheduler.runCurrent()
                    handler.results.size shouldBe n + n / 2
                    client.metrics().pendingCallbacks shouldBe n
                    client.metrics().framesReceived shouldBe stalledAt + n / 2

                    // Completing everything as it comes drains the rest.
                    var next = 1
                    while (next < handler.results.size) {
                        handler.results[next++].complete(HandlerAction.Ok(Unit))
                        testScheduler.runCurrent()
                    }
                    handler.results.size shouldBe 60
                    client.metrics().framesReceived shouldBe 60
                    client.metrics().pendingCallbacks shouldBe 0
                    stopBounded(client)
                }
            }
        }

        context("a result comes before the close frame for a protocol violation that follows it") {
            test("on virtual time: the close 1002 waits for the outstanding result, and goes out after its push") {
                runTest {
                    val handler = LaterHandler()
                    val transport = ScriptedTransport { ScriptedSession() }
                    val client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    session.feedText("message n")
                    // Reserved bits set without an extension: a protocol violation (1002).
                    session.feed(WireFrame(Opcode.TEXT, "bad".encodeToByteArray(), rsv = 4))
                    testScheduler.runCurrent()
                    handler.results.size shouldBe 1
                    withClue("the client answered the violation before the result of message n was carried out") {
                        session.written.shouldBeEmpty()
                    }

                    handler.results[0].complete(push("answer to n"))
                    testScheduler.runCurrent()
                    session.written.map { it.opcode } shouldBe listOf(Opcode.TEXT, Opcode.CLOSE)
                    session.written[0].payload.decodeToString() shouldBe "answer to n"
                    session.written[1].closeCode shouldBe CloseCodes.PROTOCOL_ERROR
                    handler.awaitSeen<Seen.Disconnected>().reason
                        .shouldBeInstanceOf<DisconnectReason.ProtocolViolation>().closeCode shouldBe 1002
                    stopBounded(client)
                }
            }

            val violations: List<Pair<String, suspend RawPeer.() -> Unit>> =
                listOf(
                    "a masked frame" to { sendFrame(WsOpcode.TEXT, "masked".encodeToByteArray(), mask = true) },
                    "a frame with the reserved opcode 0x3" to { sendFrame(0x3) },
                )
            for ((what, violate) in violations) {
                test("a real peer reads the later push for message n before the close 1002 for $what right after n") {
                    RawWebSocketServer().use { server ->
                        val handler = LaterHandler()
                        val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                        try {
                            val peer = server.awaitConnection()
                            handler.expect<Seen.Connected>()
                            peer.sendText("message n")
                            peer.sendFrame(WsOpcode.PING, "probe".encodeToByteArray())
                            peer.violate()
                            handler.expect<Seen.Received>()
                            // Pings are answered at once, result or not; onPing shows the loop is past the ping and
                            // at the violation.
                            peer.readFrame().opcode shouldBe WsOpcode.PONG
                            handler.expect<Seen.Pinged>()
                            withClue("the client sent something in answer to the violation while the result was due") {
                                peer.frameWithin(300.milliseconds).shouldBeNull()
                            }

                            handler.results.single().complete(push("answer to n"))
                            val first = peer.readFrame()
                            withClue("expected the push first, read opcode ${first.opcode}") {
                                first.opcode shouldBe WsOpcode.TEXT
                            }
                            first.text shouldBe "answer to n"
                            val close = peer.readFrame()
                            close.opcode shouldBe WsOpcode.CLOSE
                            close.closeCode shouldBe CloseCodes.PROTOCOL_ERROR
                            handler.awaitSeen<Seen.Disconnected>().reason
                                .shouldBeInstanceOf<DisconnectReason.ProtocolViolation>()
                        } finally {
                            withTimeoutOrNull(10.seconds) { client.stop() }
                        }
                    }
                }
            }
        }

        context("a result that fails") {
            test("stops the client with StopReason.HandlerFailed carrying the very same exception instance") {
                runTest {
                    val handler = LaterHandler()
                    val transport = FakeTransport()
                    val client = virtualClient(handler, Unit, fakeOptions(), transport, parent = failingParent())
                    client.awaitConnected()
                    transport.opened.single().feedText("fail later")
                    testScheduler.runCurrent()
                    val boom = IllegalStateException("the later work failed")
                    handler.results.single().completeExceptionally(boom)

                    val stopped =
                        client.awaitState { it is ConnectionState.Stopped }
                            .shouldBeInstanceOf<ConnectionState.Stopped>()
                    stopped.reason.shouldBeInstanceOf<StopReason.HandlerFailed>().cause shouldBeSameInstanceAs boom
                }
            }
        }

        context("a result answering a connection that has ended") {
            test(
                "a push still due when the peer drops is carried out before the end, and never on the next connection",
            ) {
                runTest {
                    val handler = LaterHandler()
                    val transport = FakeTransport()
                    val options = fakeOptions {
                        reconnect {
                            baseDelay = 100.milliseconds
                            maxDelay = 200.milliseconds
                        }
                    }
                    val client = virtualClient(handler, Unit, options, transport)
                    client.awaitConnected()
                    val first = transport.opened.single()
                    first.feedText("answer me later")
                    testScheduler.runCurrent()
                    first.drop()
                    testScheduler.advanceTimeBy(2.seconds)
                    testScheduler.runCurrent()
                    withClue("onDisconnect, and the reconnect, come only after the result is carried out") {
                        transport.opens.get() shouldBe 1
                        handler.seen.tryReceive().getOrNull().shouldBeInstanceOf<Seen.Connected>()
                        handler.seen.tryReceive().getOrNull().shouldBeInstanceOf<Seen.Received>()
                        handler.seen.tryReceive().getOrNull().shouldBeNull()
                    }

                    handler.results.single().complete(push("late"))
                    client.awaitState { it is ConnectionState.Connected && it.connection == 2L }
                    handler.awaitSeen<Seen.Disconnected>()
                    testScheduler.advanceTimeBy(1.seconds)
                    testScheduler.runCurrent()
                    val second = transport.opened[1]
                    withClue("a push answering connection 1 was written on connection 2") {
                        second.writtenTexts shouldNotContain "late"
                    }
                    stopBounded(client)
                }
            }

            test(
                "a push from onInfo while disconnected, due as the retry starts, is dropped, not written on the next",
            ) {
                runTest {
                    val handler = LaterHandler()
                    val transport = FakeTransport()
                    val options = fakeOptions {
                        reconnect {
                            baseDelay = 1.seconds
                            maxDelay = 1.seconds
                        }
                    }
                    val client = virtualClient(handler, Unit, options, transport)
                    client.awaitConnected()
                    val first = transport.opened.single()
                    first.drop()
                    client.awaitState { it is ConnectionState.Disconnected && it.nextAttemptIn != null }
                    client.tell("work") shouldBe true
                    testScheduler.runCurrent()
                    handler.results.size shouldBe 1
                    testScheduler.advanceTimeBy(2.seconds) // the retry is due; it waits for the result
                    testScheduler.runCurrent()
                    transport.opens.get() shouldBe 1

                    handler.results.single().complete(push("late"))
                    client.awaitState { it is ConnectionState.Connected && it.connection == 2L }
                    testScheduler.runCurrent()
                    val second = transport.opened[1]
                    withClue("a push answering a connection that had ended was written on the next one") {
                        second.writtenTexts shouldNotContain "late"
                        first.writtenTexts shouldNotContain "late"
                    }
                    stopBounded(client)
                }
            }
        }

        context("a later Disconnect") {
            test("closes the connection it answers, reported as ByHandler with the handler's reason") {
                runTest {
                    val handler = LaterHandler()
                    val transport = FakeTransport { FakeSession(answerClose = closeFrame(4000, "")) }
                    val client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    session.feedText("close later")
                    testScheduler.runCurrent()
                    handler.results.single().complete(HandlerAction.Disconnect("enough", Unit, closeCode = 4000))

                    handler.awaitSeen<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.ByHandler(
                            "enough",
                            closeCode = 4000,
                            acknowledged = true,
                            peerCode = 4000,
                            peerReason = "",
                        )
                    session.written.single { it.opcode == Opcode.CLOSE }.closeCode shouldBe 4000
                    client.awaitState { it is ConnectionState.Disconnected && it.reason != null }
                    stopBounded(client)
                }
            }

            test("from onInfo while disconnected, answering no live connection, leaves a scheduled reconnect alone") {
                runTest {
                    val handler = LaterHandler()
                    val transport = FakeTransport()
                    val options = fakeOptions {
                        reconnect {
                            baseDelay = 1.seconds
                            maxDelay = 1.seconds
                        }
                    }
                    val client = virtualClient(handler, Unit, options, transport)
                    client.awaitConnected()
                    transport.opened.single().drop()
                    client.awaitState { it is ConnectionState.Disconnected && it.nextAttemptIn != null }
                    client.tell("work") shouldBe true
                    testScheduler.runCurrent()
                    handler.results.single().complete(HandlerAction.Disconnect("stale", Unit))
                    testScheduler.runCurrent()

                    withClue(
                        "a later Disconnect for connection #1, which had ended, cancelled the pending reconnect " +
                            "(state ${client.state.value})",
                    ) {
                        client.awaitState { it is ConnectionState.Connected && it.connection == 2L }
                    }
                    stopBounded(client)
                }
            }
            test("(for comparison) a plain Disconnect from onInfo while disconnected only updates the state") {
                runTest {
                    // ParleyHandler.onInfo: "HandlerAction.Disconnect while not connected only updates the state".
                    val handler = RecordingHandler<Unit>(onInformed = { _, s -> HandlerAction.Disconnect("stale", s) })
                    val transport = FakeTransport()
                    val options = fakeOptions {
                        reconnect {
                            baseDelay = 1.seconds
                            maxDelay = 1.seconds
                        }
                    }
                    val client = virtualClient(handler, Unit, options, transport)
                    client.awaitConnected()
                    transport.opened.single().drop()
                    client.awaitState { it is ConnectionState.Disconnected && it.nextAttemptIn != null }
                    client.tell("work") shouldBe true
                    testScheduler.runCurrent()

                    withClue(
                        "a Disconnect from onInfo while down cancelled the pending reconnect (${client.state.value})",
                    ) {
                        client.awaitState { it is ConnectionState.Connected && it.connection == 2L }
                    }
                    stopBounded(client)
                }
            }
        }

        context("stop() while results are outstanding and never complete") {
            test("returns promptly while the client idles, and the client is Stopped(Requested)") {
                runTest {
                    val handler = LaterHandler()
                    val transport = FakeTransport()
                    val client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    repeat(3) { transport.opened.single().feedText("never answered $it") }
                    testScheduler.runCurrent()
                    client.metrics().pendingCallbacks shouldBe 3
                    val before = testScheduler.currentTime
                    stopBounded(client)
                    (testScheduler.currentTime - before) shouldBeLessThan 1000L
                    client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
                }
            }

            test("returns promptly with the window full, and the client is Stopped(Requested)") {
                runTest {
                    val handler = LaterHandler()
                    val transport = FakeTransport()
                    val client = virtualClient(handler, Unit, fakeOptions { maxPendingCallbacks = 2 }, transport)
                    client.awaitConnected()
                    repeat(5) { transport.opened.single().feedText("never answered $it") }
                    testScheduler.runCurrent()
                    client.metrics().pendingCallbacks shouldBe 2
                    stopBounded(client)
                    client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
                }
            }

            test("returns promptly after the peer dropped the connection (the end waits for the results)") {
                runTest {
                    val handler = LaterHandler()
                    val transport = FakeTransport()
                    val client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    session.feedText("never answered")
                    testScheduler.runCurrent()
                    session.drop()
                    testScheduler.runCurrent()
                    stopBounded(client)
                    client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
                }
            }

            test("returns promptly once the connection has been up for stableAfter (its timer waits for the results)") {
                runTest {
                    val handler = LaterHandler()
                    val transport = FakeTransport()
                    val client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    transport.opened.single().feedText("never answered")
                    testScheduler.runCurrent()
                    // ReconnectPolicy.DEFAULT.stableAfter is 10 s; its timer runs even without a policy.
                    testScheduler.advanceTimeBy(11.seconds)
                    testScheduler.runCurrent()
                    stopBounded(client)
                    client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
                }
            }
        }
    })
