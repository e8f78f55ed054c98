package dev.parley

import dev.parley.support.FakeSession
import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.fakeOptions
import dev.parley.support.recorder
import dev.parley.support.virtualClient
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.WsOpcode
import io.kotest.assertions.assertSoftly
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.ints.shouldBeGreaterThan
import io.kotest.matchers.ints.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.cancel
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import kotlinx.coroutines.yield
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * Every request made of a client is answered, and every connection it opens is either handed to it or closed, however
 * a stop, a close handshake or back-pressure interleaves with it. Races are pinned down on virtual time with a fake
 * transport: the loop is held inside a handler callback (onInfo, reached through tell()) while the commands and events
 * that must race are lined up behind it, then released. A hang is a failure here: every wait is bounded.
 */
class AnsweredOnceSpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 60.seconds)

        /** A handler whose onInfo ("hold") parks the loop until [release] completes, after completing [entered]. */
        class HoldingHandler : RecordingHandler<Unit>() {
            val entered = CompletableDeferred<Unit>()
            val release = CompletableDeferred<Unit>()

            override suspend fun onInfo(message: Any, state: Unit): HandlerAction<Unit> {
                entered.complete(Unit)
                release.await()
                return HandlerAction.Ok(state)
            }
        }

        /** Holds the loop of [client] inside onInfo; returns once it is parked there. */
        suspend fun TestScope.holdLoop(client: ParleyClient, handler: HoldingHandler) {
            client.tell("hold") shouldBe true
            withTimeout(5.seconds) { handler.entered.await() }
            testScheduler.runCurrent()
        }

        context("a command queued behind stop()") {
            test("connect() then throws ClientStoppedException and disconnect() returns: neither hangs") {
                runTest {
                    val handler = HoldingHandler()
                    val transport = FakeTransport()
                    val client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    holdLoop(client, handler)

                    // In this order, each reaching the mailbox before the next: Stop, then Connect, then Disconnect.
                    val background = backgroundScope
                    val stopping = background.async(start = CoroutineStart.UNDISPATCHED) { client.stop() }
                    val connecting =
                        background.async(start = CoroutineStart.UNDISPATCHED) { runCatching { client.connect() } }
                    val disconnecting = background.async(start = CoroutineStart.UNDISPATCHED) { client.disconnect() }
                    handler.release.complete(Unit)

                    val stopped = withTimeoutOrNull(5.seconds) { stopping.await() }
                    val connected = withTimeoutOrNull(5.seconds) { connecting.await() }
                    val disconnected = withTimeoutOrNull(5.seconds) { disconnecting.await() }
                    withClue(
                        "stop() returned: ${stopped != null}, connect() answered: ${connected != null}, " +
                            "disconnect() returned: ${disconnected != null}",
                    ) {
                        stopped shouldBe Unit
                        connected.shouldBeInstanceOf<Result<Unit>>()
                            .exceptionOrNull().shouldBeInstanceOf<ClientStoppedException>()
                            .reason shouldBe StopReason.Requested
                        disconnected shouldBe Unit
                    }
                    client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
                }
            }
        }

        context("a session opened by an attempt") {
            test("is closed when stop() is taken before its buffered Opened event") {
                runTest {
                    val handler = HoldingHandler()
                    val transport = FakeTransport().apply { openGate = CompletableDeferred() }
                    val client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.state.first { it is ConnectionState.Connecting }
                    holdLoop(client, handler)

                    // The upgrade completes while the loop is busy: the attempt ends, its Opened event waits in line.
                    transport.openGate!!.complete(Unit)
                    testScheduler.runCurrent()
                    val session = withTimeout(5.seconds) { transport.sessions.receive() }
                    testScheduler.runCurrent()

                    val stopping = backgroundScope.async(start = CoroutineStart.UNDISPATCHED) { client.stop() }
                    handler.release.complete(Unit)
                    withTimeout(5.seconds) { stopping.await() }

                    client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
                    withClue("the opened session was neither handed to the loop nor closed: its socket leaks") {
                        withTimeoutOrNull(5.seconds) { session.letGo.await() } shouldBe Unit
                        (session.aborts.get() + session.releases.get()) shouldBeGreaterThan 0
                    }
                }
            }

            test("is closed when the client's scope is cancelled before its buffered Opened event is taken") {
                runTest {
                    val handler = HoldingHandler()
                    val transport = FakeTransport().apply { openGate = CompletableDeferred() }
                    val scope = CoroutineScope(Job())
                    val client = virtualClient(handler, Unit, fakeOptions(), transport, parent = scope)
                    client.state.first { it is ConnectionState.Connecting }
                    holdLoop(client, handler)
                    transport.openGate!!.complete(Unit)
                    testScheduler.runCurrent()
                    val session = withTimeout(5.seconds) { transport.sessions.receive() }
                    testScheduler.runCurrent()

                    scope.cancel()
                    withTimeout(5.seconds) { client.state.first { it is ConnectionState.Stopped } }
                        .shouldBeInstanceOf<ConnectionState.Stopped>().reason.shouldBeInstanceOf<StopReason.Cancelled>()
                    withClue("the opened session was neither handed to the loop nor closed: its socket leaks") {
                        withTimeoutOrNull(5.seconds) { session.letGo.await() } shouldBe Unit
                    }
                }
            }

            test("is closed when disconnect() cancels the attempt just as the upgrade returns it") {
                runTest {
                    val handler = HoldingHandler()
                    val transport = FakeTransport().apply { openGate = CompletableDeferred() }
                    val client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.state.first { it is ConnectionState.Connecting }
                    holdLoop(client, handler)
                    val disconnecting = backgroundScope.async(start = CoroutineStart.UNDISPATCHED) {
                        client.disconnect()
                    }

                    // In this order on the one thread: open() returns the session (the attempt's result is then
                    // dispatched back to it), the loop takes disconnect() and cancels the attempt, then the attempt
                    // resumes, cancelled, with the session in hand.
                    transport.openGate!!.complete(Unit)
                    handler.release.complete(Unit)
                    testScheduler.runCurrent()
                    withTimeout(5.seconds) { disconnecting.await() }

                    val session = transport.opened.single()
                    client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>()
                    withClue(
                        "the session open() returned was neither handed to the loop nor closed: its socket leaks",
                    ) {
                        withTimeoutOrNull(5.seconds) { session.letGo.await() } shouldBe Unit
                    }
                    withTimeout(5.seconds) { client.stop() }
                }
            }

            test("real server: 10 clients stopped while their upgrade is pending all close their sockets") {
                RawWebSocketServer(answerUpgrade = false).use { server ->
                    val clients = (1..10).map { Parley.start(recorder(), Unit, parleyOptions { url = server.url() }) }
                    // Each server-side socket has read its upgrade request, which is never answered.
                    val peers = (1..10).map { server.awaitConnection() }
                    clients.forEach { it.state.value.shouldBeInstanceOf<ConnectionState.Connecting>() }
                    withTimeout(10.seconds) { clients.map { async { it.stop() } }.awaitAll() }
                    val closed = AtomicInteger()
                    withContext(Dispatchers.Default) {
                        peers.map { peer ->
                            async {
                                if (runCatching {
                                        peer.awaitClosedByClient(5.seconds)
                                    }.isSuccess
                                ) {
                                    closed.incrementAndGet()
                                }
                            }
                        }.awaitAll()
                    }
                    withClue("server-side sockets that saw the client close") { closed.get() shouldBe 10 }
                }
            }
        }

        context("connect() during a close handshake") {
            test("does not fail: it returns once connected again, over exactly one new connection") {
                RawWebSocketServer().use { server ->
                    val handler = recorder()
                    val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                    try {
                        val first = server.awaitConnection()
                        client.awaitConnected()
                        handler.expect<Seen.Connected>()

                        val disconnecting =
                            async(Dispatchers.Default) { withTimeout(10.seconds) { client.disconnect() } }
                        first.readFrame().opcode shouldBe WsOpcode.CLOSE // we are Closing; the peer holds its reply
                        val connecting =
                            async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                                withTimeoutOrNull(10.seconds) { runCatching { client.connect() } }
                            }
                        // The mailbox is in order: once "probe" is seen, the loop has taken connect() while Closing.
                        client.tell("probe") shouldBe true
                        handler.awaitSeen<Seen.Info>()

                        first.sendClose(CloseCodes.NORMAL, "bye")
                        val second = server.awaitConnection()
                        val outcome = connecting.await()
                        withClue("connect() must be answered") { outcome.shouldBeInstanceOf<Result<Unit>>() }
                        withClue("connect() failed with ${outcome?.exceptionOrNull()}") {
                            outcome!!.exceptionOrNull() shouldBe null
                        }
                        client.state.value.shouldBeInstanceOf<ConnectionState.Connected>()
                        disconnecting.await()
                        handler.awaitSeen<Seen.Connected>()
                        // Exactly one new connection: nothing else dials in (a bounded check of absence).
                        runCatching { server.awaitConnection(500.milliseconds) }.getOrNull() shouldBe null
                        second.request.requestLine.startsWith("GET") shouldBe true
                    } finally {
                        withTimeoutOrNull(5.seconds) { client.stop() }
                    }
                }
            }
        }

        context("a send() waiting for room in a full queue (SUSPEND, capacity 1, writes never finish)") {
            test("is failed with ClientStoppedException when the client stops, and its caller carries on") {
                runTest {
                    val transport = FakeTransport { FakeSession(writes = CompletableDeferred()) }
                    val options = fakeOptions {
                        sendQueueCapacity = 1
                        sendOverflow = SendOverflow.SUSPEND
                    }
                    val client = virtualClient(recorder(), Unit, options, transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    client.trySend(Frame.Text("in the writer")).shouldBeInstanceOf<SendResult.Enqueued>()
                    withTimeout(5.seconds) { session.writeStarted.await() } // stuck in write for good
                    client.trySend(Frame.Text("queued")).shouldBeInstanceOf<SendResult.Enqueued>()

                    val linesAfterCatch = AtomicInteger()
                    val caller =
                        backgroundScope.async(start = CoroutineStart.UNDISPATCHED) {
                            val thrown =
                                try {
                                    client.send(Frame.Text("waiting for room"))
                                    null
                                } catch (e: ParleyException) {
                                    e
                                }
                            // Runs only if the caller's coroutine survived the stop.
                            linesAfterCatch.incrementAndGet()
                            thrown to currentCoroutineContext().isActive
                        }
                    testScheduler.runCurrent()
                    caller.isActive shouldBe true // suspended for room

                    withTimeout(10.seconds) { client.stop() }
                    val outcome = withTimeoutOrNull(5.seconds) { runCatching { caller.await() } }
                    withClue("send() must be answered") { outcome.shouldBeInstanceOf<Result<*>>() }
                    withClue("the caller ended with ${outcome?.exceptionOrNull()} instead of a ParleyException") {
                        outcome!!.exceptionOrNull() shouldBe null
                    }
                    val (thrown, stillActive) = outcome!!.getOrThrow()
                    thrown.shouldBeInstanceOf<ClientStoppedException>().reason shouldBe StopReason.Requested
                    stillActive shouldBe true
                    linesAfterCatch.get() shouldBe 1
                }
            }

            test("a send() racing stop() always fails with a ParleyException, never a bare CancellationException") {
                val foreign = java.util.Collections.synchronizedList(mutableListOf<Throwable>())
                val typed = AtomicInteger()
                withContext(Dispatchers.Default) {
                    repeat(ROUNDS) {
                        val client =
                            dev.parley.internal.ConnectionLoop.start(
                                parent = null,
                                handler = recorder(),
                                initialState = Unit,
                                options = fakeOptions {
                                    sendQueueCapacity = 1
                                    sendOverflow = SendOverflow.SUSPEND
                                },
                                transport = FakeTransport(),
                            )
                        client.awaitConnected()
                        val senders =
                            (1..SENDERS).map {
                                launch {
                                    while (true) {
                                        try {
                                            client.send(Frame.Text("x"))
                                        } catch (e: ParleyException) {
                                            typed.incrementAndGet()
                                            break
                                        } catch (e: Throwable) {
                                            foreign += e
                                            break
                                        }
                                    }
                                }
                            }
                        // Stop while the senders are busy: some frames written, some queued, some waiting for room.
                        withTimeout(5.seconds) { while (client.metrics().framesSent < 20) yield() }
                        withTimeout(10.seconds) { client.stop() }
                        withTimeout(10.seconds) { senders.forEach { it.join() } }
                    }
                }
                withClue(
                    "${foreign.size} of ${typed.get() + foreign.size} senders failed with other than a ParleyException",
                ) {
                    foreign.map { it.javaClass.name + ": " + it.message }.distinct().shouldBeEmpty()
                }
            }
        }

        context("under back-pressure (capacity 16, SUSPEND, 200 senders waiting)") {
            suspend fun TestScope.backPressure(client: ParleyClient, pinned: Int) {
                val answers = mutableListOf<Deferred<Throwable?>>()
                var deepest = 0
                repeat(SENDERS_WAITING) { i ->
                    answers +=
                        backgroundScope.async(start = CoroutineStart.UNDISPATCHED) {
                            runCatching { client.send(Frame.Text("frame $i")) }.exceptionOrNull()
                        }
                    testScheduler.runCurrent()
                    deepest = maxOf(deepest, client.metrics().sendQueueDepth)
                }
                val waiting = answers.count { it.isActive }

                withTimeout(10.seconds) { client.stop() }
                val outcomes = withTimeoutOrNull(5.seconds) { answers.map { runCatching { it.await() } } }
                val failures = outcomes?.map { it.getOrElse { e -> e } }
                assertSoftly {
                    withClue("sendQueueDepth (frames accepted and not yet written or failed, $pinned in the writer)") {
                        deepest shouldBeLessThanOrEqual CAPACITY + pinned
                    }
                    withClue("senders still waiting before stop(): nothing is written") {
                        waiting shouldBe
                            SENDERS_WAITING
                    }
                    withClue("every waiting sender must be answered") { failures.shouldBeInstanceOf<List<*>>() }
                    withClue("senders answered with something else than ClientStoppedException") {
                        failures.orEmpty()
                            .filter { it !is ClientStoppedException }
                            .groupingBy { it?.javaClass?.name ?: "success" }
                            .eachCount() shouldBe emptyMap()
                    }
                }
                failures!!.size shouldBe SENDERS_WAITING
                client.metrics().sendQueueDepth shouldBe 0
            }

            test("while the upgrade never completes, the depth stays within capacity and stop() fails all 200") {
                runTest {
                    val transport = FakeTransport().apply { openGate = CompletableDeferred() }
                    val options = fakeOptions {
                        sendQueueCapacity = CAPACITY
                        sendOverflow = SendOverflow.SUSPEND
                    }
                    val client = virtualClient(recorder(), Unit, options, transport)
                    client.state.first { it is ConnectionState.Connecting }
                    backPressure(client, pinned = 0)
                }
            }

            test("while connected and no write finishes, the depth stays within capacity and stop() fails all 200") {
                runTest {
                    val transport = FakeTransport { FakeSession(writes = CompletableDeferred()) }
                    val options = fakeOptions {
                        sendQueueCapacity = CAPACITY
                        sendOverflow = SendOverflow.SUSPEND
                    }
                    val client = virtualClient(recorder(), Unit, options, transport)
                    client.awaitConnected()
                    // One frame pinned in the writer, stuck in write: from then on nothing leaves the queue.
                    val pinned = client.trySend(Frame.Text("pinned")).shouldBeInstanceOf<SendResult.Enqueued>()
                    withTimeout(5.seconds) { transport.opened.single().writeStarted.await() }
                    backPressure(client, pinned = 1)
                    runCatching { pinned.written.await() }.exceptionOrNull().shouldBeInstanceOf<ParleyException>()
                }
            }
        }
    }) {
    private companion object {
        const val ROUNDS = 40
        const val SENDERS = 8
        const val CAPACITY = 16
        const val SENDERS_WAITING = 200
    }
}
