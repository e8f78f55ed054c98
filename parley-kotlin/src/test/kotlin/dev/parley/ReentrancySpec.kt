package dev.parley

import dev.parley.internal.ConnectionLoop
import dev.parley.internal.closeFrame
import dev.parley.support.FakeSession
import dev.parley.support.FakeTransport
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.fakeOptions
import dev.parley.support.virtualClient
import dev.parley.testing.KtorTestServer
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.booleans.shouldBeTrue
import io.kotest.matchers.longs.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import io.kotest.matchers.types.shouldBeSameInstanceAs
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.util.concurrent.Executors
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * Handler code runs on the client's own loop. Calling the client back from there (stop, disconnect, connect, send)
 * must not wait for that loop, and handler code that throws, even a CancellationException of its own, must be
 * reported as a handler failure. Each call below is made inline in the callback, not in another scope; each wait is
 * bounded, so a deadlock fails the test instead of hanging the build.
 */
class ReentrancySpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 60.seconds)

        context("from inside a handler callback") {
            test("client.stop() in onFrame returns, and the client then reaches Stopped(Requested)") {
                runTest {
                    lateinit var client: ParleyClient
                    val returned = CompletableDeferred<Result<Unit>>()
                    val handler = RecordingHandler<Unit>(onReceived = { _, s ->
                        returned.complete(runCatching { client.stop() })
                        HandlerAction.Ok(s)
                    })
                    val transport = FakeTransport { FakeSession(answerClose = closeFrame(CloseCodes.GOING_AWAY, "")) }
                    client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    transport.opened.single().feedText("stop please")

                    val outcome = withTimeoutOrNull(5.seconds) { returned.await() }
                    withClue("stop() called from onFrame did not return: it waits for its own loop") {
                        outcome.shouldBeInstanceOf<Result<Unit>>().isSuccess.shouldBeTrue()
                    }
                    withTimeout(5.seconds) { client.state.first { it is ConnectionState.Stopped } } shouldBe
                        ConnectionState.Stopped(StopReason.Requested)
                }
            }

            test("client.stop() in onFrame against a real server returns, and the client stops") {
                KtorTestServer().start().use { server ->
                    lateinit var client: ParleyClient
                    val returned = CompletableDeferred<Result<Unit>>()
                    val handler = RecordingHandler<Unit>(onReceived = { _, s ->
                        returned.complete(runCatching { client.stop() })
                        HandlerAction.Ok(s)
                    })
                    client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                    client.awaitConnected()
                    client.send(Frame.Text("echo me, then I stop"))
                    val outcome = withTimeoutOrNull(5.seconds) { returned.await() }
                    withClue("stop() called from onFrame did not return") {
                        outcome.shouldBeInstanceOf<Result<Unit>>().isSuccess.shouldBeTrue()
                    }
                    withTimeout(5.seconds) { client.state.first { it is ConnectionState.Stopped } } shouldBe
                        ConnectionState.Stopped(StopReason.Requested)
                    server.closeFrames.awaitNext().code shouldBe CloseCodes.GOING_AWAY
                }
            }

            test("client.disconnect() in onFrame returns, and the client reaches Disconnected(ClosedLocally)") {
                runTest {
                    lateinit var client: ParleyClient
                    val returned = CompletableDeferred<Result<Unit>>()
                    val handler = RecordingHandler<Unit>(onReceived = { _, s ->
                        returned.complete(runCatching { client.disconnect(CloseCodes.NORMAL, "done") })
                        HandlerAction.Ok(s)
                    })
                    val transport = FakeTransport { FakeSession(answerClose = closeFrame(CloseCodes.NORMAL, "")) }
                    client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    transport.opened.single().feedText("disconnect please")

                    val outcome = withTimeoutOrNull(5.seconds) { returned.await() }
                    withClue("disconnect() called from onFrame did not return: it waits for its own loop") {
                        outcome.shouldBeInstanceOf<Result<Unit>>().isSuccess.shouldBeTrue()
                    }
                    val down =
                        withTimeout(5.seconds) {
                            client.state.first { it is ConnectionState.Disconnected && it.reason != null }
                        }.shouldBeInstanceOf<ConnectionState.Disconnected>()
                    val reason = down.reason.shouldBeInstanceOf<DisconnectReason.ClosedLocally>()
                    reason.code shouldBe CloseCodes.NORMAL
                    reason.reason shouldBe "done"
                    handler.awaitSeen<Seen.Disconnected>().reason shouldBe reason
                }
            }

            test("client.connect() in onDisconnect returns, and the client reconnects") {
                runTest {
                    lateinit var client: ParleyClient
                    val returned = CompletableDeferred<Result<Unit>>()
                    val handler = RecordingHandler<Unit>(onDisconnected = { _, s ->
                        if (!returned.isCompleted) returned.complete(runCatching { client.connect() })
                        DisconnectDecision.Default(s) // no reconnect policy: only the connect() dials again
                    })
                    val transport = FakeTransport()
                    client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.awaitConnected()
                    transport.opened.single().drop()

                    val outcome = withTimeoutOrNull(5.seconds) { returned.await() }
                    withClue("connect() called from onDisconnect did not return: it waits for its own loop") {
                        outcome.shouldBeInstanceOf<Result<Unit>>().isSuccess.shouldBeTrue()
                    }
                    withTimeout(5.seconds) { transport.sessions.receive() } // the first
                    withTimeout(5.seconds) { transport.sessions.receive() } // the reconnect
                    client.awaitConnected()
                    transport.opens.get() shouldBe 2
                }
            }

            test("client.send() in onConnect returns once written, ahead of the frames queued while connecting") {
                runTest {
                    lateinit var client: ParleyClient
                    val transport = FakeTransport().apply { openGate = CompletableDeferred() }
                    val returned = CompletableDeferred<Result<List<String>>>()
                    val handler = RecordingHandler<Unit>(onConnected = { s ->
                        returned.complete(
                            runCatching {
                                client.send(Frame.Text("hello from onConnect"))
                                transport.opened.single().writtenTexts // what is written by the time send returns
                            },
                        )
                        HandlerAction.Ok(s)
                    })
                    client = virtualClient(handler, Unit, fakeOptions(), transport)
                    client.state.first { it is ConnectionState.Connecting }
                    client.trySend(Frame.Text("queued 1")).shouldBeInstanceOf<SendResult.Enqueued>()
                    val queued2 = backgroundScope.launch { client.send(Frame.Text("queued 2")) }
                    testScheduler.runCurrent()
                    transport.openGate!!.complete(Unit)

                    val outcome = withTimeoutOrNull(5.seconds) { returned.await() }
                    withClue("send() called from onConnect did not return: the writer waits for onConnect") {
                        outcome.shouldBeInstanceOf<Result<List<String>>>().isSuccess.shouldBeTrue()
                    }
                    outcome!!.getOrThrow().first() shouldBe "hello from onConnect"
                    withTimeout(5.seconds) { queued2.join() }
                    transport.opened.single().writtenTexts shouldBe
                        listOf("hello from onConnect", "queued 1", "queued 2")
                }
            }

            test("runBlocking { client.send() } in onFrame fails at once with IllegalStateException, not a deadlock") {
                // A real thread for the loop: runBlocking blocks it, and shutdownNow() interrupts it if it deadlocks.
                val executor = Executors.newSingleThreadExecutor {
                    Thread(it, "reentrancy-loop").apply { isDaemon = true }
                }
                try {
                    lateinit var client: ParleyClient
                    val outcome = CompletableDeferred<Result<Unit>>()
                    val handler = RecordingHandler<Unit>(onReceived = { _, s ->
                        outcome.complete(runCatching { runBlocking { client.send(Frame.Text("blocking")) } })
                        HandlerAction.Ok(s)
                    })
                    val transport = FakeTransport()
                    client =
                        ConnectionLoop.start(
                            parent = null,
                            handler = handler,
                            initialState = Unit,
                            options = fakeOptions(),
                            transport = transport,
                            dispatcher = executor.asCoroutineDispatcher(),
                        )
                    client.awaitConnected()
                    transport.opened.single().feedText("go")
                    val result = withTimeoutOrNull(5.seconds) { outcome.await() }
                    withClue("runBlocking { send() } on the client's own thread deadlocked") {
                        result.shouldBeInstanceOf<Result<Unit>>()
                    }
                    val failure = result!!.exceptionOrNull().shouldBeInstanceOf<IllegalStateException>()
                    withClue("the message names the rule") {
                        failure.message.orEmpty().lowercase() shouldContain "block"
                    }
                    withTimeout(5.seconds) { client.stop() }
                } finally {
                    executor.shutdownNow()
                }
            }

            test("client.send() in onFrame with a full queue (capacity 1, SUSPEND) completes") {
                runTest {
                    lateinit var client: ParleyClient
                    val writes = CompletableDeferred<Unit>()
                    val transport = FakeTransport { FakeSession(writes = writes) }
                    val returned = CompletableDeferred<Result<Unit>>()
                    val handler = RecordingHandler<Unit>(onReceived = { _, s ->
                        returned.complete(runCatching { client.send(Frame.Text("from onFrame")) })
                        HandlerAction.Ok(s)
                    })
                    val options = fakeOptions {
                        sendQueueCapacity = 1
                        sendOverflow = SendOverflow.SUSPEND
                    }
                    client = virtualClient(handler, Unit, options, transport)
                    client.awaitConnected()
                    val session = transport.opened.single()
                    val first = client.trySend(Frame.Text("in the writer")).shouldBeInstanceOf<SendResult.Enqueued>()
                    withTimeout(5.seconds) { session.writeStarted.await() }
                    client.trySend(Frame.Text("queued")).shouldBeInstanceOf<SendResult.Enqueued>()
                    session.feedText("send from the handler now")
                    testScheduler.runCurrent()
                    returned.isCompleted shouldBe false // waiting for room, inside onFrame
                    writes.complete(Unit) // the peer reads again

                    val outcome = withTimeoutOrNull(5.seconds) { returned.await() }
                    withClue("send() in onFrame with a full queue deadlocked") {
                        outcome.shouldBeInstanceOf<Result<Unit>>().isSuccess.shouldBeTrue()
                    }
                    withTimeout(5.seconds) { first.written.await() }
                    session.writtenTexts shouldBe listOf("in the writer", "queued", "from onFrame")
                    withTimeout(10.seconds) { client.stop() }
                }
            }
        }

        context("a handler's own CancellationException, while the client is not being cancelled") {
            test("withTimeout expiring in onFrame stops the client with HandlerFailed and fails its linked scope") {
                runTest {
                    val thrown = CompletableDeferred<Throwable>()
                    val handler = RecordingHandler<Unit>(onReceived = { _, _ ->
                        try {
                            withTimeout(10.milliseconds) { awaitCancellation() }
                        } catch (e: Throwable) {
                            thrown.complete(e)
                            throw e
                        }
                    })
                    val failure = CompletableDeferred<Throwable>()
                    val scope = CoroutineScope(Job() + CoroutineExceptionHandler { _, e -> failure.complete(e) })
                    val transport = FakeTransport()
                    val client = virtualClient(handler, Unit, fakeOptions(), transport, parent = scope)
                    client.awaitConnected()
                    transport.opened.single().feedText("take your time")

                    val timeout = withTimeout(5.seconds) { thrown.await() }
                    timeout.shouldBeInstanceOf<kotlinx.coroutines.TimeoutCancellationException>()
                    val stopped =
                        withTimeout(5.seconds) { client.state.first { it is ConnectionState.Stopped } }
                            .shouldBeInstanceOf<ConnectionState.Stopped>()
                    withClue("stopped with ${stopped.reason}") {
                        stopped.reason.shouldBeInstanceOf<StopReason.HandlerFailed>().cause shouldBeSameInstanceAs
                            timeout
                    }
                    // A CancellationException cannot fail a parent (coroutines treat it as a normal end), so the scope
                    // fails with an exception that carries it.
                    withClue("the linked scope must fail with the handler's exception as its cause") {
                        withTimeoutOrNull(5.seconds) { failure.await() }?.cause shouldBeSameInstanceAs timeout
                    }
                }
            }

            test("awaiting a cancelled Deferred in onFrame stops the client with HandlerFailed, not Cancelled") {
                runTest {
                    val cancelled = CompletableDeferred<Unit>().apply { cancel() }
                    val handler = RecordingHandler<Unit>(onReceived = { _, s ->
                        cancelled.await()
                        HandlerAction.Ok(s)
                    })
                    val transport = FakeTransport()
                    val scope = CoroutineScope(Job() + CoroutineExceptionHandler { _, _ -> })
                    val client = virtualClient(handler, Unit, fakeOptions(), transport, parent = scope)
                    client.awaitConnected()
                    transport.opened.single().feedText("await that")
                    val stopped =
                        withTimeout(5.seconds) { client.state.first { it is ConnectionState.Stopped } }
                            .shouldBeInstanceOf<ConnectionState.Stopped>()
                    withClue("stopped with ${stopped.reason}") {
                        stopped.reason.shouldBeInstanceOf<StopReason.HandlerFailed>()
                            .cause.shouldBeInstanceOf<kotlinx.coroutines.CancellationException>()
                    }
                }
            }
        }

        context("a handler's Reconnect decision with no reconnect policy configured") {
            test("a connection up for ReconnectPolicy.DEFAULT.stableAfter resets the failure counter") {
                runTest {
                    val policy = ReconnectPolicy.DEFAULT
                    val statesSeen = mutableListOf<ConnectionState.Disconnected>()
                    val droppedAt = mutableListOf<Long>()
                    lateinit var client: ParleyClient
                    val handler = RecordingHandler<Unit>(onDisconnected = { _, s ->
                        droppedAt += testScheduler.currentTime
                        statesSeen += client.state.value as ConnectionState.Disconnected
                        DisconnectDecision.Reconnect(s)
                    })
                    val transport = FakeTransport()
                    client = virtualClient(handler, Unit, fakeOptions(), transport) // no reconnect { }
                    val scheduled = mutableListOf<ParleyEvent.ReconnectScheduled>()
                    backgroundScope.launch(start = kotlinx.coroutines.CoroutineStart.UNDISPATCHED) {
                        client.events.collect { if (it is ParleyEvent.ReconnectScheduled) scheduled += it }
                    }

                    // Three flaps build the counter up to 3.
                    repeat(3) { withTimeout(1.seconds + policy.maxDelay * 4) { transport.sessions.receive() }.drop() }
                    // The fourth connection stays up just past stableAfter (virtual time), then drops.
                    val stable = withTimeout(policy.maxDelay * 4) { transport.sessions.receive() }
                    testScheduler.advanceTimeBy(policy.stableAfter + 1.milliseconds)
                    stable.drop()
                    withTimeout(policy.maxDelay * 4) { transport.sessions.receive() } // the reconnect after it
                    val reconnectedAt = testScheduler.currentTime

                    withClue("failedAttempts when each drop was reported") {
                        statesSeen.map { it.failedAttempts } shouldBe listOf(0, 1, 2, 0)
                    }
                    withClue("ReconnectScheduled attempt numbers") {
                        scheduled.map { it.attempt } shouldBe listOf(1, 2, 3, 1)
                    }
                    // Drawn for attempt 0 again: (base/2, base] from the drop to the reconnect.
                    val gap = reconnectedAt - droppedAt.last()
                    withClue("delay after the stable connection was $gap ms") {
                        (2 * gap > policy.baseDelay.inWholeMilliseconds).shouldBeTrue()
                        gap shouldBeLessThanOrEqual policy.baseDelay.inWholeMilliseconds
                    }
                }
            }
        }
    })
