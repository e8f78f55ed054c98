package dev.parley

import dev.parley.internal.ClientHandle
import dev.parley.internal.Command
import dev.parley.support.FakeSession
import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.RefusingTransport
import dev.parley.support.ScriptedSession
import dev.parley.support.ScriptedTransport
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.awaitState
import dev.parley.support.fakeOptions
import dev.parley.support.recorder
import dev.parley.support.stopBounded
import dev.parley.support.virtualClient
import dev.parley.support.virtualClockClient
import dev.parley.testing.KtorTestServer
import dev.parley.testing.RawFrame
import dev.parley.testing.RawPeer
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.recordEvents
import dev.parley.transport.Opcode
import dev.parley.transport.OpenRequest
import dev.parley.transport.Transport
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.comparables.shouldBeLessThan
import io.kotest.matchers.longs.shouldBeLessThan
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.nulls.shouldNotBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Job
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.async
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.io.EOFException
import java.net.SocketException
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** The client's next frame, or `null` if it closed TCP instead (EOF or reset); a timeout still fails. */
private suspend fun RawPeer.frameOrEnd(timeout: Duration = 5.seconds): RawFrame? = try {
    readFrame(timeout)
} catch (e: AssertionError) {
    if (generateSequence<Throwable>(e) { it.cause }.take(10).any { it is EOFException }) null else throw e
} catch (e: SocketException) {
    null
}

/** How [deferred] failed (it must have completed exceptionally by now). */
private fun failureOf(deferred: Deferred<Unit>): Throwable {
    withClue("the frame's outcome is not settled yet") { deferred.isCompleted shouldBe true }
    return deferred.getCompletionExceptionOrNull().shouldNotBeNull()
}

/**
 * The API added with the rewritten core: enqueue, the awaitingDecision flag, connection numbers, cancel(), a Stop
 * decision, what a frame cut off by a stop or a failure is told (mayHaveBeenWritten), sinceLastInbound and
 * droppedPongs, the replayed latest event and the FrameDropped cap, and connect() joining the attempt it observed.
 * Fake-transport specs run on virtual time with fixed interleavings; every wait is bounded.
 */
class NewApiSpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 60.seconds)

        context("enqueue(frame)") {
            test("frames enqueued by one coroutine are written in call order; each Deferred completes when written") {
                runTest {
                    val writes = CompletableDeferred<Unit>()
                    val transport = FakeTransport { FakeSession(writes = writes) }
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    val session = transport.opened.single()

                    val outcomes = List(5) { client.enqueue(Frame.Text("frame-$it")) }
                    withClue("enqueue waited for the write") { outcomes.none { it.isCompleted } shouldBe true }
                    testScheduler.runCurrent()
                    withClue("a Deferred completed while its write was still blocked") {
                        outcomes.none { it.isCompleted } shouldBe true
                        session.written.shouldBeEmpty()
                    }
                    writes.complete(Unit)
                    testScheduler.runCurrent()
                    outcomes.all { it.isCompleted && it.getCompletionExceptionOrNull() == null } shouldBe true
                    session.writtenTexts shouldBe List(5) { "frame-$it" }
                    stopBounded(client)
                }
            }

            test("with a full queue (capacity 1, SUSPEND) enqueue suspends until there is room") {
                runTest {
                    val writes = CompletableDeferred<Unit>()
                    val transport = FakeTransport { FakeSession(writes = writes) }
                    val options = fakeOptions {
                        sendQueueCapacity = 1
                        sendOverflow = SendOverflow.SUSPEND
                    }
                    val client = virtualClient(recorder(), Unit, options, transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    val inWriter = client.enqueue(Frame.Text("in the writer"))
                    testScheduler.runCurrent()
                    withTimeout(5.seconds) { session.writeStarted.await() }
                    val queued = client.enqueue(Frame.Text("queued")) // fills the queue
                    val waiting =
                        backgroundScope.async(start = CoroutineStart.UNDISPATCHED) {
                            client.enqueue(Frame.Text("waits for room"))
                        }
                    testScheduler.runCurrent()
                    withClue("enqueue returned although the queue was full") { waiting.isCompleted shouldBe false }
                    client.metrics().sendersWaiting shouldBe 1

                    writes.complete(Unit)
                    val last = withTimeout(5.seconds) { waiting.await() }
                    withTimeout(5.seconds) { last.await() }
                    inWriter.isCompleted shouldBe true
                    queued.isCompleted shouldBe true
                    session.writtenTexts shouldBe listOf("in the writer", "queued", "waits for room")
                    stopBounded(client)
                }
            }

            test("enqueued frames that cannot be written fail their Deferred and count in framesDropped") {
                runTest {
                    val transport = FakeTransport { FakeSession(writes = CompletableDeferred()) }
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    val inWriter = client.enqueue(Frame.Text("in the writer"))
                    testScheduler.runCurrent()
                    val queued = List(2) { client.enqueue(Frame.Text("queued-$it")) }
                    session.drop()
                    testScheduler.runCurrent()

                    failureOf(inWriter).shouldBeInstanceOf<ConnectionClosedException>()
                    queued.forEach { failureOf(it).shouldBeInstanceOf<ConnectionClosedException>() }
                    withClue("failures of enqueued frames are not counted in metrics().framesDropped") {
                        client.metrics().framesDropped shouldBe 3
                    }
                    stopBounded(client)
                }
            }
        }

        context("ConnectionState.Disconnected.awaitingDecision") {
            test("is true while onDisconnect runs and false afterwards; StayDisconnected leaves no attempt scheduled") {
                runTest {
                    lateinit var client: ParleyClient
                    var seenInside: ConnectionState? = null
                    val handler =
                        RecordingHandler<Unit>(onDisconnected = { _, s ->
                            seenInside = client.state.value
                            DisconnectDecision.StayDisconnected(s)
                        })
                    val transport = FakeTransport()
                    // A policy that would reconnect, so that only the decision keeps it down.
                    client = virtualClient(handler, Unit, fakeOptions { reconnect() }, transport)
                    client.awaitConnected()
                    transport.opened.single().drop()
                    handler.awaitSeen<Seen.Disconnected>()
                    testScheduler.runCurrent()

                    val inside = seenInside.shouldBeInstanceOf<ConnectionState.Disconnected>()
                    inside.awaitingDecision shouldBe true
                    inside.reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    val after = client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>()
                    after.nextAttemptIn.shouldBeNull()
                    after.awaitingDecision shouldBe false
                    after.reason shouldBe inside.reason
                    testScheduler.advanceTimeBy(60.seconds)
                    testScheduler.runCurrent()
                    transport.opens.get() shouldBe 1
                    stopBounded(client)
                }
            }
        }

        context("connection numbers") {
            test("state, event and metrics number the first connection 1 and the one after a reconnect 2") {
                runTest {
                    val transport = FakeTransport()
                    val options = fakeOptions {
                        reconnect {
                            baseDelay = 100.milliseconds
                            maxDelay = 200.milliseconds
                        }
                    }
                    val client = virtualClient(recorder(), Unit, options, transport)
                    val events = backgroundScope.recordEvents(client)
                    client.awaitConnected().connection shouldBe 1L
                    client.metrics().connection shouldBe 1L
                    transport.opened.single().drop()
                    val second =
                        client.awaitState { it is ConnectionState.Connected && transport.opens.get() == 2 }
                            .shouldBeInstanceOf<ConnectionState.Connected>()
                    second.connection shouldBe 2L
                    client.metrics().connection shouldBe 2L
                    testScheduler.runCurrent()
                    events.drain().filterIsInstance<ParleyEvent.Connected>().map { it.connection } shouldBe
                        listOf(1L, 2L)
                    stopBounded(client)
                }
            }
        }

        context("cancel()") {
            test("while connected, the peer sees TCP end without a close frame, and the state is Stopped(Aborted)") {
                RawWebSocketServer().use { server ->
                    val handler = recorder()
                    val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                    val peer = server.awaitConnection()
                    handler.expect<Seen.Connected>()
                    withTimeout(5.seconds) { client.cancel() }
                    client.state.value shouldBe ConnectionState.Stopped(StopReason.Aborted)
                    val next = peer.frameOrEnd()
                    withClue(
                        "the client sent ${next?.opcode} (close code ${next?.closeCode}) instead of dropping TCP",
                    ) {
                        next.shouldBeNull()
                    }
                }
            }

            test("frames still queued fail with ClientStoppedException(Aborted)") {
                runTest {
                    val transport = FakeTransport { FakeSession(writes = CompletableDeferred()) }
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    client.enqueue(Frame.Text("in the writer"))
                    testScheduler.runCurrent()
                    withTimeout(5.seconds) { session.writeStarted.await() }
                    val enqueued = client.enqueue(Frame.Text("queued by enqueue"))
                    val tried = client.trySend(
                        Frame.Text("queued by trySend"),
                    ).shouldBeInstanceOf<SendResult.Enqueued>()
                    val sending =
                        backgroundScope.async(start = CoroutineStart.UNDISPATCHED) {
                            runCatching { client.send(Frame.Text("queued by send")) }
                        }
                    testScheduler.runCurrent()

                    withClue("cancel() did not return") {
                        withTimeoutOrNull(5.seconds) { client.cancel() } shouldBe Unit
                    }
                    testScheduler.runCurrent()
                    client.state.value shouldBe ConnectionState.Stopped(StopReason.Aborted)
                    for (failure in listOf(
                        failureOf(enqueued),
                        failureOf(tried.written),
                        withTimeout(5.seconds) { sending.await() }.exceptionOrNull().shouldNotBeNull(),
                    )) {
                        failure.shouldBeInstanceOf<ClientStoppedException>().reason shouldBe StopReason.Aborted
                    }
                    session.aborts.get() shouldBe 1
                    session.written.shouldBeEmpty()
                }
            }
        }

        context("DisconnectDecision.Stop") {
            test("stops the client with StopReason.ByHandler(reason), even with a reconnect policy") {
                runTest {
                    val handler =
                        RecordingHandler<Unit>(onDisconnected = { _, s -> DisconnectDecision.Stop("done", s) })
                    val transport = FakeTransport()
                    val options = fakeOptions {
                        reconnect {
                            baseDelay = 100.milliseconds
                            maxDelay = 100.milliseconds
                        }
                    }
                    val client = virtualClient(handler, Unit, options, transport)
                    client.awaitConnected()
                    transport.opened.single().drop()
                    client.awaitState { it is ConnectionState.Stopped } shouldBe
                        ConnectionState.Stopped(StopReason.ByHandler("done"))
                    testScheduler.advanceTimeBy(5.seconds)
                    testScheduler.runCurrent()
                    transport.opens.get() shouldBe 1
                }
            }
        }

        context("what a frame cut off by the end of its connection is told") {
            test(
                "stop() with the writer blocked returns without the close flush grace; its frame may have been written",
            ) {
                runTest {
                    val transport = FakeTransport { FakeSession(writes = CompletableDeferred()) }
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    val stuck = client.enqueue(Frame.Text("stuck in the writer"))
                    testScheduler.runCurrent()
                    withTimeout(5.seconds) { session.writeStarted.await() }

                    val before = testScheduler.currentTime
                    withClue("stop() did not return") { withTimeoutOrNull(5.seconds) { client.stop() } shouldBe Unit }
                    withClue("stop() waited for the close frame's flush grace (1 s)") {
                        (testScheduler.currentTime - before) shouldBeLessThan 1000L
                    }
                    client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
                    failureOf(stuck).shouldBeInstanceOf<ConnectionClosedException>().mayHaveBeenWritten shouldBe true
                }
            }

            test("frames still queued when the connection drops fail with mayHaveBeenWritten = false") {
                runTest {
                    val transport = FakeTransport { FakeSession(writes = CompletableDeferred()) }
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    val inWriter = client.enqueue(Frame.Text("in the writer"))
                    testScheduler.runCurrent()
                    withTimeout(5.seconds) { session.writeStarted.await() }
                    val queued = List(3) { client.enqueue(Frame.Text("queued-$it")) }
                    session.drop()
                    testScheduler.runCurrent()

                    for (frame in queued) {
                        val failure = failureOf(frame).shouldBeInstanceOf<ConnectionClosedException>()
                        failure.mayHaveBeenWritten shouldBe false
                        failure.reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    }
                    failureOf(inWriter).shouldBeInstanceOf<ConnectionClosedException>().mayHaveBeenWritten shouldBe true
                    stopBounded(client)
                }
            }

            test("a write that fails after the peer's close frame arrived reports the peer's close, not the failure") {
                runTest {
                    // A server refusing a frame too big for it: its 1009 is in our socket when our write breaks.
                    val tooBig = WireFrame(
                        Opcode.CLOSE,
                        byteArrayOf(0x03, 0xF1.toByte()) + "too big".encodeToByteArray(),
                    )
                    val transport =
                        ScriptedTransport { ScriptedSession(failWriteAt = 1, arrivedBeforeFailure = tooBig) }
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    client.enqueue(Frame.Binary(ByteArray(100_000)))
                    testScheduler.runCurrent()
                    val down = client.awaitState { it is ConnectionState.Disconnected && it.reason != null }
                    (down as ConnectionState.Disconnected).reason shouldBe
                        DisconnectReason.ClosedByPeer(CloseCodes.MESSAGE_TOO_BIG, "too big")
                    stopBounded(client)
                }
            }

            test("frames caught in the writer's batch when a write fails fail with mayHaveBeenWritten = true") {
                runTest {
                    val transport = ScriptedTransport { ScriptedSession(failWriteAt = 2) }
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    // Queued before the writer runs, so that it takes all three into one batch.
                    val batch = List(3) { client.enqueue(Frame.Text("batch-$it")) }
                    testScheduler.runCurrent()

                    session.writtenTexts shouldBe listOf("batch-0") // the first write succeeded, the second threw
                    for (frame in batch) {
                        val failure = failureOf(frame).shouldBeInstanceOf<ConnectionClosedException>()
                        failure.mayHaveBeenWritten shouldBe true
                        failure.reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    }
                    client.awaitState { it is ConnectionState.Disconnected && it.reason != null }
                    stopBounded(client)
                }
            }
        }

        context("metrics") {
            test("sinceLastInbound is null before anything arrives and measures from the last frame once one has") {
                runTest {
                    val transport = FakeTransport()
                    val client = virtualClockClient(recorder(), Unit, fakeOptions(), transport)
                    client.metrics().sinceLastInbound.shouldBeNull()
                    client.awaitConnected()
                    testScheduler.advanceTimeBy(3.seconds)
                    testScheduler.runCurrent()
                    withClue("connecting is not receiving") { client.metrics().sinceLastInbound.shouldBeNull() }

                    transport.opened.single().feedText("hello")
                    testScheduler.runCurrent()
                    client.metrics().sinceLastInbound shouldBe Duration.ZERO
                    testScheduler.advanceTimeBy(1500.milliseconds)
                    client.metrics().sinceLastInbound shouldBe 1500.milliseconds
                    stopBounded(client)
                }
            }

            test("sinceLastInbound is small right after a frame from a real peer arrives") {
                RawWebSocketServer().use { server ->
                    val handler = recorder()
                    val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                    try {
                        val peer = server.awaitConnection()
                        handler.expect<Seen.Connected>()
                        client.metrics().sinceLastInbound.shouldBeNull()
                        peer.sendText("hello")
                        handler.expect<Seen.Received>()
                        client.metrics().sinceLastInbound.shouldNotBeNull() shouldBeLessThan 1.seconds
                    } finally {
                        withTimeoutOrNull(10.seconds) { client.stop() }
                    }
                }
            }

            test("droppedPongs counts the pongs that did not fit the control queue while the writer was blocked") {
                runTest {
                    val capacity = 4
                    val pings = 20
                    val transport = ScriptedTransport { ScriptedSession(writes = CompletableDeferred()) }
                    val handler = recorder()
                    val client = virtualClient(handler, Unit, fakeOptions { sendQueueCapacity = capacity }, transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    client.trySend(Frame.Text("blocks the writer")).shouldBeInstanceOf<SendResult.Enqueued>()
                    testScheduler.runCurrent()
                    withTimeout(5.seconds) { session.writeStarted.await() }
                    repeat(pings) { session.feedPing("ping-$it") }
                    testScheduler.runCurrent()

                    // The control queue is as large as the send queue; the writer takes none of them while blocked.
                    client.metrics().droppedPongs shouldBe (pings - capacity).toLong()
                    generateSequence { handler.seen.tryReceive().getOrNull() }.count { it is Seen.Pinged } shouldBe
                        pings
                    stopBounded(client)
                }
            }
        }

        context("events") {
            test("a collector that subscribes after the first Connecting was emitted first sees it (replayed)") {
                runTest {
                    val transport = FakeTransport().apply { openGate = CompletableDeferred() }
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport)
                    testScheduler.runCurrent() // the loop has started the attempt and emitted Connecting(0)
                    transport.opens.get() shouldBe 1
                    withTimeout(5.seconds) { client.events.first() } shouldBe ParleyEvent.Connecting(0)
                    stopBounded(client)
                }
            }

            test("a collector that subscribes right after Parley.start first sees Connecting(0)") {
                // The server takes the upgrade request and never answers: the attempt stays in progress.
                RawWebSocketServer(answerUpgrade = false).use { server ->
                    val client =
                        Parley.start(
                            recorder(),
                            Unit,
                            parleyOptions {
                                url = server.url()
                                connectTimeout = 30.seconds
                            },
                        )
                    try {
                        withTimeout(5.seconds) { client.events.first() } shouldBe ParleyEvent.Connecting(0)
                    } finally {
                        withTimeoutOrNull(10.seconds) { client.stop() }
                    }
                }
            }

            test("at most 256 FrameDropped events per connection attempt, while framesDropped counts every frame") {
                runTest {
                    val transport = FakeTransport { FakeSession(writes = CompletableDeferred()) }
                    val client = virtualClient(recorder(), Unit, fakeOptions { sendQueueCapacity = 2000 }, transport)
                    val events = backgroundScope.recordEvents(client)
                    client.awaitConnected()

                    suspend fun dropThousandOn(session: FakeSession) {
                        client.trySend(Frame.Text("in the writer")).shouldBeInstanceOf<SendResult.Enqueued>()
                        testScheduler.runCurrent()
                        withTimeout(5.seconds) { session.writeStarted.await() }
                        repeat(1000) {
                            client.trySend(Frame.Text("queued-$it")).shouldBeInstanceOf<SendResult.Enqueued>()
                        }
                        session.drop()
                        testScheduler.runCurrent()
                    }

                    dropThousandOn(transport.opened.single())
                    client.metrics().framesDropped shouldBe 1001L
                    val first = events.drain()
                    withClue("FrameDropped events for the first connection") {
                        first.count { it is ParleyEvent.FrameDropped } shouldBe 256
                    }
                    first.filterIsInstance<ParleyEvent.Disconnected>().size shouldBe 1

                    // A new attempt may report its own drops again.
                    withTimeout(5.seconds) { client.connect() }
                    dropThousandOn(transport.opened[1])
                    client.metrics().framesDropped shouldBe 2002L
                    withClue("FrameDropped events for the second connection") {
                        events.drain().count { it is ParleyEvent.FrameDropped } shouldBe 256
                    }
                    stopBounded(client)
                }
            }
        }

        context("StopReason.Failed") {
            test("a client whose own code throws stops as Failed with that exception, and fails its linked scope") {
                runTest {
                    val boom = IllegalStateException("boom: a bug in the client")
                    // A session that breaks the loop itself (not a handler callback): reading its headers throws.
                    val transport =
                        object : Transport {
                            override suspend fun open(request: OpenRequest): TransportSession =
                                object : TransportSession by FakeSession() {
                                    override val responseHeaders: Map<String, List<String>>
                                        get() = throw boom
                                }

                            override fun close() = Unit
                        }
                    val parentFailure = CompletableDeferred<Throwable>()
                    val parent =
                        CoroutineScope(Job() + CoroutineExceptionHandler { _, e -> parentFailure.complete(e) })
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport, parent = parent)
                    testScheduler.runCurrent()
                    withClue("a broken loop was reported as ${client.state.value}") {
                        client.state.value shouldBe ConnectionState.Stopped(StopReason.Failed(boom))
                    }
                    withTimeout(5.seconds) { client.stop() }
                    // The same exception, or the copy coroutines' stack-trace recovery makes of it on the way up.
                    val failed = parentFailure.await()
                    (failed === boom || failed.cause === boom) shouldBe true
                }
            }
        }

        context("ParleyOptions.dispatcher") {
            test("handler callbacks run on the given dispatcher, one at a time, against a real server") {
                val threads = AtomicInteger()
                val pool = Executors.newFixedThreadPool(4) { r ->
                    Thread(r, "own-loop-${threads.incrementAndGet()}").apply { isDaemon = true }
                }
                val dispatcher = pool.asCoroutineDispatcher()
                try {
                    KtorTestServer().start().use { server ->
                        val seen = ConcurrentLinkedQueue<String>()
                        val running = AtomicInteger()
                        val overlapped = AtomicBoolean()
                        val echoes = Channel<String>(
                            Channel.UNLIMITED,
                        )
                        val handler = object : ParleyHandler<Unit> {
                            override suspend fun onConnect(state: Unit): HandlerAction<Unit> {
                                seen += Thread.currentThread().name
                                return HandlerAction.Ok(state)
                            }

                            override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> {
                                if (running.incrementAndGet() > 1) overlapped.set(true)
                                seen += Thread.currentThread().name
                                running.decrementAndGet()
                                if (frame is Frame.Text) echoes.send(frame.text)
                                return HandlerAction.Ok(state)
                            }
                        }
                        val options = parleyOptions {
                            url = server.url()
                            this.dispatcher = dispatcher
                        }
                        val client = Parley.start(handler, Unit, options)
                        try {
                            withTimeout(10.seconds) {
                                client.state.first { it is ConnectionState.Connected }
                                repeat(50) { client.send(Frame.Text("m$it")) }
                                List(50) { echoes.receive() } shouldBe List(50) { "m$it" }
                            }
                        } finally {
                            withTimeout(10.seconds) { client.stop() }
                        }
                        withClue("threads the callbacks ran on: ${seen.toSet()}") {
                            seen.size shouldBe 51
                            seen.all { it.startsWith("own-loop-") } shouldBe true
                        }
                        overlapped.get() shouldBe false
                    }
                } finally {
                    pool.shutdown()
                }
            }
        }

        context("connect() joins the attempt it observed") {
            test(
                "a join of attempt 1 after that attempt connected and ended is answered at once, with no new attempt",
            ) {
                runTest {
                    val transport = FakeTransport { FakeSession().also { it.drop() } }
                    val handler = recorder()
                    val client = virtualClient(handler, Unit, fakeOptions(), transport)
                    handler.awaitSeen<Seen.Connected>()
                    client.awaitState { it is ConnectionState.Disconnected && !it.awaitingDecision }

                    val reply = CompletableDeferred<Unit>()
                    (client as ClientHandle).shared.mailbox.request(Command.Connect(reply, joinAttempt = 1))
                    testScheduler.runCurrent()
                    withTimeout(5.seconds) { reply.await() } // completes normally
                    testScheduler.advanceTimeBy(5.seconds)
                    testScheduler.runCurrent()
                    transport.opens.get() shouldBe 1
                    client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>()
                    stopBounded(client)
                }
            }

            test(
                "a join of attempt 1 after that attempt failed fails with ConnectFailedException, with no new attempt",
            ) {
                runTest {
                    val transport = RefusingTransport()
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport)
                    client.awaitState { it is ConnectionState.Disconnected && !it.awaitingDecision }

                    val reply = CompletableDeferred<Unit>()
                    (client as ClientHandle).shared.mailbox.request(Command.Connect(reply, joinAttempt = 1))
                    testScheduler.runCurrent()
                    val failure = withTimeout(5.seconds) { runCatching { reply.await() } }.exceptionOrNull()
                    failure.shouldBeInstanceOf<ConnectFailedException>()
                        .reason.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                    testScheduler.advanceTimeBy(5.seconds)
                    testScheduler.runCurrent()
                    transport.opens.get() shouldBe 1
                    stopBounded(client)
                }
            }

            test("a plain connect() while Disconnected opens a new connection") {
                runTest {
                    val transport = FakeTransport()
                    val client = virtualClient(recorder(), Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    transport.opened.single().drop()
                    client.awaitState { it is ConnectionState.Disconnected && !it.awaitingDecision }

                    withTimeout(5.seconds) { client.connect() }
                    transport.opens.get() shouldBe 2
                    client.state.value.shouldBeInstanceOf<ConnectionState.Connected>().connection shouldBe 2L
                    stopBounded(client)
                }
            }
        }
    })
