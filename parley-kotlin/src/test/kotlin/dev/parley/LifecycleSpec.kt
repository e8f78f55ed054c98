package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.awaitState
import dev.parley.support.awaitStopped
import dev.parley.support.recorder
import dev.parley.testing.KtorTestServer
import dev.parley.testing.SilentServer
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.ints.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import io.kotest.matchers.types.shouldBeSameInstanceAs
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.withTimeout
import java.io.File
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

class LifecycleSpec :
    FunSpec({
        context("stop()") {
            test("while connected sends a going-away close, ends in Stopped, and later sends fail") {
                KtorTestServer().start().use { server ->
                    val client = Parley.start(recorder(), Unit, parleyOptions { url = server.url() })
                    client.awaitConnected()
                    client.stop()
                    client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
                    server.closeFrames.awaitNext().code shouldBe CloseCodes.GOING_AWAY
                    shouldThrow<ClientStoppedException> { client.send(Frame.Text("late")) }
                    client.trySend(Frame.Text("late")).shouldBeInstanceOf<SendResult.Rejected>()
                    client.tell("late") shouldBe false
                    shouldThrow<ClientStoppedException> { client.connect() }
                    client.stop() // idempotent
                    client.disconnect() // a no-op once stopped
                }
            }

            test("while connecting fails the frames queued for the upgrade") {
                SilentServer().use { silent ->
                    val client = Parley.start(recorder(), Unit, parleyOptions { url = silent.url() })
                    client.awaitState { it is ConnectionState.Connecting }
                    val queued = client.trySend(Frame.Text("never")).shouldBeInstanceOf<SendResult.Enqueued>()
                    client.stop()
                    shouldThrow<ClientStoppedException> { queued.written.await() }
                    client.state.value.shouldBeInstanceOf<ConnectionState.Stopped>()
                }
            }

            test("while a retry is pending cancels it and stops") {
                val client =
                    Parley.start(
                        recorder(),
                        Unit,
                        parleyOptions {
                            url = "ws://127.0.0.1:${dev.parley.testing.unusedPort()}/ws"
                            reconnect { baseDelay = 10.seconds }
                        },
                    )
                client.awaitState { it is ConnectionState.Disconnected && it.nextAttemptIn != null }
                withTimeout(2.seconds) { client.stop() }
                client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
            }
        }

        context("a client linked to a scope") {
            test("stops when the scope is cancelled") {
                KtorTestServer().start().use { server ->
                    val scope = CoroutineScope(Job() + Dispatchers.Default)
                    val client = scope.startParley(recorder(), Unit, parleyOptions { url = server.url() })
                    client.awaitConnected()
                    scope.cancel()
                    val stopped = client.awaitStopped()
                    stopped.reason.shouldBeInstanceOf<StopReason.Cancelled>()
                    // The server recorded the one connection on its own thread (cancellation does not wait for a handshake).
                    server.acceptedConnections.awaitCount(1).size shouldBe 1
                }
            }

            test("fails the scope with the exception a handler throws, after closing with 1011") {
                KtorTestServer().start().use { server ->
                    val boom = IllegalStateException("handler bug")
                    val failure = CompletableDeferred<Throwable>()
                    val scope =
                        CoroutineScope(
                            Job() + Dispatchers.Default + CoroutineExceptionHandler { _, e ->
                                failure.complete(e)
                            },
                        )
                    val handler = RecordingHandler<Unit>(onReceived = { _, _ -> throw boom })
                    val client = scope.startParley(handler, Unit, parleyOptions { url = server.url() })
                    client.awaitConnected()
                    client.send(Frame.Text("trigger"))
                    val stopped = client.awaitStopped()
                    (stopped.reason as StopReason.HandlerFailed).cause shouldBeSameInstanceAs boom
                    withTimeout(5.seconds) { failure.await() } shouldBeSameInstanceAs boom
                    server.closeFrames.awaitNext().code shouldBe CloseCodes.INTERNAL_ERROR
                }
            }
        }

        test("a standalone client whose handler throws stops without disturbing its caller") {
            KtorTestServer().start().use { server ->
                val handler = RecordingHandler<Unit>(onConnected = { throw IllegalArgumentException("bad state") })
                val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                val stopped = client.awaitStopped()
                (stopped.reason as StopReason.HandlerFailed).cause.message shouldBe "bad state"
                handler.expect<Seen.Connected>()
            }
        }

        test("stop() called from inside a handler callback returns, and the client stops once the callback is done") {
            KtorTestServer().start().use { server ->
                lateinit var client: ParleyClient
                val returned = CompletableDeferred<Unit>()
                val handler =
                    RecordingHandler<Unit>(onReceived = { _, s ->
                        // Inline, on the client's own coroutine: stop() asks and returns, it cannot wait for itself.
                        client.stop()
                        returned.complete(Unit)
                        dev.parley.HandlerAction.Ok(s)
                    })
                client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                client.awaitConnected()
                client.send(Frame.Text("stop please"))
                withTimeout(5.seconds) { returned.await() }
                client.awaitStopped().reason shouldBe StopReason.Requested
            }
        }

        test("1,000 start/connect/stop cycles leak no threads, sockets or coroutines") {
            KtorTestServer().start().use { server ->
                val options = { parleyOptions { url = server.url() } }
                suspend fun cycle() {
                    val client = Parley.start(recorder(), Unit, options())
                    client.awaitConnected()
                    client.stop()
                }
                repeat(200) { cycle() } // warm up shared pools (Dispatchers.IO, the shared CIO engine)
                val threadsBefore = Thread.activeCount()
                val fdsBefore = openFileDescriptors()
                val loggersBefore = loggerCount()
                withTimeout(3.minutes) { repeat(1_000) { cycle() } }
                // Sockets close asynchronously after stop(); allow the last few to settle, bounded.
                withTimeout(10.seconds) {
                    while (openFileDescriptors() > fdsBefore + 10) kotlinx.coroutines.delay(50.milliseconds)
                }
                (openFileDescriptors() - fdsBefore) shouldBeLessThanOrEqual 10
                // Dispatchers.IO grows on demand up to 64 threads, and how far it grows depends on the machine's load
                // (21 new threads were seen with other builds running), so the bound is the pool's own limit; a
                // per-cycle leak would add 1,000.
                (Thread.activeCount() - threadsBefore) shouldBeLessThanOrEqual 64
                // One logger for every client: a logger per client would be kept by logback forever (+1,000 here).
                (loggerCount() - loggersBefore) shouldBeLessThanOrEqual 0
                // The server records a connection on its own thread, possibly after the client has already stopped it.
                server.acceptedConnections.awaitCount(1_200).size shouldBe 1_200
            }
        }

        test("a cancelled send() caller does not stop or break the client") {
            KtorTestServer().start().use { server ->
                val handler = recorder()
                val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                try {
                    client.awaitConnected()
                    handler.expect<Seen.Connected>()
                    val caller = CoroutineScope(Dispatchers.Default).async { client.send(Frame.Text("maybe")) }
                    caller.cancel(CancellationException("caller gave up"))
                    client.send(Frame.Text("after"))
                    // The cancelled frame may or may not have been written; the next one certainly is.
                    val texts = mutableListOf<Frame>()
                    while (Frame.Text("after") !in texts) texts += handler.expect<Seen.Received>().frame
                    client.state.value.shouldBeInstanceOf<ConnectionState.Connected>()
                } finally {
                    client.stop()
                }
            }
        }
    })

private fun openFileDescriptors(): Int = File("/proc/self/fd").list()?.size ?: 0

/** Loggers logback has created so far (it keeps every one for the life of the process). */
private fun loggerCount(): Int =
    (org.slf4j.LoggerFactory.getILoggerFactory() as ch.qos.logback.classic.LoggerContext).loggerList.size
