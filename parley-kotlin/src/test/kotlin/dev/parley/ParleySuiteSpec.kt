package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.awaitDisconnected
import dev.parley.support.awaitState
import dev.parley.support.awaitStopped
import dev.parley.support.recorder
import dev.parley.testing.CloseFrameRecord
import dev.parley.testing.GarbageHttpServer
import dev.parley.testing.JettyTestServer
import dev.parley.testing.KtorTestServer
import dev.parley.testing.ParleyTestServer
import dev.parley.testing.ServerCommand
import dev.parley.testing.SilentServer
import dev.parley.testing.unusedPort
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.collections.shouldBeIn
import io.kotest.matchers.collections.shouldContainExactlyInAnyOrder
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.cancel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.net.ConnectException
import kotlin.random.Random
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * Elixir Parley's main suite (`test/parley_test.exs`, tests #1–#53 of the seed analysis) ported to the Kotlin API.
 * Each test name ends with the Parley test number it ports.
 *
 * Mapping notes:
 * - #21–#27 (name registration, child_spec) have no JVM equivalent: there is no process registry to address a client
 *   by name and no supervisor child spec. They map to "the `name` option is the client's [ParleyClient.name]" and
 *   "two clients with different names run side by side". An invalid name (#23) is options validation (OptionsSpec).
 * - #53 (missing url) is options validation and lives in OptionsSpec.
 * - #12: Parley stops the process when the very first connect fails; this port deliberately keeps the client alive in
 *   Disconnected instead.
 * - #8: Parley only checked that nothing crashed; here the queued frame's failure must be reported.
 */
class ParleySuiteSpec :
    FunSpec({
        // A safety net only: every wait below is bounded on its own.
        defaultTestConfig = DefaultTestConfig(timeout = 60.seconds)

        for ((serverName, makeServer) in realServers) {
            context("against the $serverName server") {
                test("onConnect is called once the upgrade completes (Parley #1)") {
                    makeServer().start().use { server ->
                        val handler = recorder()
                        withClient(handler, Unit, parleyOptions { url = server.url() }) { client ->
                            client.awaitConnected()
                            handler.expect<Seen.Connected>()
                            server.acceptedConnections.awaitNext() shouldBe "/ws"
                        }
                    }
                }

                test("a text frame is echoed back to onFrame (Parley #2)") {
                    echoing(makeServer) { client, handler ->
                        client.sendWithin(Frame.Text("hello"))
                        handler.nextFrame() shouldBe Frame.Text("hello")
                    }
                }

                test("a binary frame is echoed back to onFrame (Parley #3)") {
                    echoing(makeServer) { client, handler ->
                        client.sendWithin(Frame.Binary(byteArrayOf(1, 2, 3)))
                        handler.nextFrame() shouldBe Frame.Binary(byteArrayOf(1, 2, 3))
                    }
                }

                test("frames sent one after another are echoed in the order they were sent (Parley #4)") {
                    echoing(makeServer) { client, handler ->
                        for (text in listOf("one", "two", "three")) client.sendWithin(Frame.Text(text))
                        List(3) { handler.nextFrame() } shouldBe listOf("one", "two", "three").map { Frame.Text(it) }
                    }
                }

                test("a 100 000 character text frame is echoed intact (Parley #49)") {
                    echoing(makeServer) { client, handler ->
                        val big = buildString { repeat(100_000) { append('a' + it % 26) } }
                        client.sendWithin(Frame.Text(big))
                        handler.nextFrame() shouldBe Frame.Text(big)
                    }
                }

                test("a binary frame of 100 000 random bytes is echoed intact (Parley #50)") {
                    echoing(makeServer) { client, handler ->
                        val bytes = Random(50).nextBytes(100_000)
                        client.sendWithin(Frame.Binary(bytes))
                        handler.nextFrame() shouldBe Frame.Binary(bytes)
                    }
                }

                test("12 coroutines sending at once all succeed and every message is echoed (Parley #51)") {
                    echoing(makeServer) { client, handler ->
                        val sent = List(12) { Frame.Text("concurrent-$it") }
                        coroutineScope {
                            sent.map { frame -> async(Dispatchers.Default) { client.sendWithin(frame) } }.awaitAll()
                        }
                        // Order between concurrent senders is not defined: compare as multisets.
                        List(sent.size) { handler.nextFrame() } shouldContainExactlyInAnyOrder sent
                    }
                }

                test("a server close reaches onDisconnect as ClosedByPeer(1000, normal closure) (Parley #14)") {
                    echoing(makeServer) { client, handler ->
                        client.trigger("close")
                        val seen = handler.expect<Seen.Disconnected>()
                        seen.reason shouldBe DisconnectReason.ClosedByPeer(1000, "normal closure")
                        client.awaitDisconnected().reason shouldBe seen.reason
                        client.shouldStillServeTell(handler)
                    }
                }

                test("an abrupt TCP drop gives TransportFailed and the client stays alive, disconnected (Parley #17)") {
                    echoing(makeServer) { client, handler ->
                        client.trigger("crash")
                        handler.expect<Seen.Disconnected>().reason
                            .shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                        client.awaitDisconnected().reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                        client.shouldStillServeTell(handler)
                    }
                }

                test("/reject answers 403: onDisconnect gets HandshakeRejected with the headers (Parley #15)") {
                    makeServer().start().use { server ->
                        val handler = recorder()
                        withClient(handler, Unit, parleyOptions { url = server.url("/reject") }) { client ->
                            val reason = handler.expect<Seen.Disconnected>().reason
                            reason.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>()
                            reason.status shouldBe 403
                            reason.headers["content-length"] shouldBe listOf("0")
                            client.awaitDisconnected().reason shouldBe reason
                            client.shouldStillServeTell(handler)
                        }
                    }
                }
            }
        }

        // Ktor's CIO server cancels its sessions on stop (TCP ends, no close frame); Jetty shuts down gracefully and
        // sends 1001 "Container being shut down" (see TestServersSpec).
        test("stopping the Ktor server gives TransportFailed (no close frame), client alive (Parley #13)") {
            echoing({ KtorTestServer() }) { client, handler, server ->
                server.acceptedConnections.awaitNext()
                server.stop()
                val reason = handler.expect<Seen.Disconnected>().reason
                reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                client.awaitDisconnected().reason shouldBe reason
                client.shouldStillServeTell(handler)
            }
        }

        test("stopping the Jetty server gives ClosedByPeer(1001, going away) and the client stays alive (Parley #13)") {
            echoing({ JettyTestServer() }) { client, handler, server ->
                // Jetty's graceful stop only closes sessions it has opened (onWebSocketOpen records them); one still
                // opening after the 101 is dropped without a close frame once stopTimeout expires.
                server.acceptedConnections.awaitNext()
                server.stop()
                val reason = handler.expect<Seen.Disconnected>().reason
                reason.shouldBeInstanceOf<DisconnectReason.ClosedByPeer>()
                reason.code shouldBe CloseCodes.GOING_AWAY
                // Usually "Container being shut down"; now and then Jetty's shutdown closes the session through its
                // idle-timeout path instead, with the same code.
                reason.reason shouldBeIn setOf("Container being shut down", "Connection Idle Timeout")
                client.shouldStillServeTell(handler)
            }
        }

        context("trySend (send_frame_async)") {
            test("returns Enqueued, completes written, and the frame is echoed (Parley #5)") {
                echoing { client, handler ->
                    val result = client.trySend(Frame.Text("async hello"))
                    result.shouldBeInstanceOf<SendResult.Enqueued>()
                    withTimeout(5.seconds) { result.written.await() }
                    handler.nextFrame() shouldBe Frame.Text("async hello")
                }
            }

            test("returns Rejected(NotConnectedException) after disconnect (Parley #6)") {
                echoing { client, handler ->
                    client.disconnect()
                    handler.expect<Seen.Disconnected>()
                    val result = client.trySend(Frame.Text("dropped"))
                    result.shouldBeInstanceOf<SendResult.Rejected>()
                    result.cause.shouldBeInstanceOf<NotConnectedException>()
                }
            }

            test("frames queued one after another are echoed in order (Parley #7)") {
                echoing { client, handler ->
                    val results = listOf("one", "two", "three").map { client.trySend(Frame.Text(it)) }
                    results.forEach { it.shouldBeInstanceOf<SendResult.Enqueued>() }
                    List(3) { handler.nextFrame() } shouldBe listOf("one", "two", "three").map { Frame.Text(it) }
                }
            }

            test("a frame queued while connecting fails with ConnectionClosedException on timeout (Parley #8)") {
                SilentServer().use { silent ->
                    val handler = recorder()
                    val timeout = 200.milliseconds
                    val options = parleyOptions {
                        url = silent.url()
                        connectTimeout = timeout
                    }
                    withClient(handler, Unit, options) { client ->
                        client.awaitState { it is ConnectionState.Connecting }
                        val result = client.trySend(Frame.Text("queued"))
                        result.shouldBeInstanceOf<SendResult.Enqueued>()
                        val failure = shouldThrow<ConnectionClosedException> {
                            withTimeout(timeout + 1.seconds) { result.written.await() }
                        }
                        failure.reason shouldBe DisconnectReason.ConnectTimedOut(timeout)
                        handler.expect<Seen.Disconnected>().reason shouldBe DisconnectReason.ConnectTimedOut(timeout)
                        client.shouldStillServeTell(handler)
                    }
                }
            }

            test("a frame sent right after start is queued for the first connection, not rejected (Parley #8, #19)") {
                // Parley runs its first connect before handling any call, so a send right after start_link is
                // postponed until the upgrade. Here, the first attempt starts on the client's coroutine some time
                // after start() returns. Several fresh clients make the window visible.
                KtorTestServer().start().use { server ->
                    repeat(5) { i ->
                        val handler = recorder()
                        withClient(handler, Unit, parleyOptions { url = server.url() }) { client ->
                            val result = client.trySend(Frame.Text("early-$i"))
                            result.shouldBeInstanceOf<SendResult.Enqueued>()
                            handler.expect<Seen.Connected>()
                            handler.nextFrame() shouldBe Frame.Text("early-$i")
                        }
                    }
                }
            }
        }

        context("disconnecting") {
            test("disconnect() closes with 1000 and onDisconnect gets ClosedLocally, acknowledged (Parley #9)") {
                echoing { client, handler, server ->
                    client.disconnect()
                    handler.expect<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.ClosedLocally(1000, "", acknowledged = true, peerCode = 1000, peerReason = "")
                    // Once onDisconnect has answered (the handler saw the reason while it was still deciding).
                    withTimeout(5.seconds) {
                        client.state.first { it is ConnectionState.Disconnected && !it.awaitingDecision }
                    } shouldBe
                        ConnectionState.Disconnected(DisconnectReason.ClosedLocally(1000, "", true, 1000, ""), null, 0)
                    server.closeFrames.awaitNext() shouldBe CloseFrameRecord(1000, "")
                }
            }

            test("send() after disconnect throws NotConnectedException (Parley #10)") {
                echoing { client, handler ->
                    client.disconnect()
                    handler.expect<Seen.Disconnected>()
                    shouldThrow<NotConnectedException> { client.sendWithin(Frame.Text("too late")) }
                }
            }

            test("a second disconnect() returns normally and reports no second disconnect (Parley #11)") {
                echoing { client, handler ->
                    client.disconnect()
                    handler.expect<Seen.Disconnected>()
                    withTimeout(1.seconds) { client.disconnect() }
                    // The mailbox is ordered: a second onDisconnect would be seen before this message.
                    client.tell("after second disconnect") shouldBe true
                    handler.expect<Seen.Info>().message shouldBe "after second disconnect"
                }
            }

            test("disconnect() during the upgrade returns promptly: ClosedLocally, unacknowledged (Parley #52)") {
                SilentServer().use { silent ->
                    val handler = recorder()
                    val options = parleyOptions {
                        url = silent.url()
                        connectTimeout = 5.seconds
                    }
                    withClient(handler, Unit, options) { client ->
                        client.awaitState { it is ConnectionState.Connecting }
                        silent.awaitAccepted()
                        withTimeout(1.seconds) { client.disconnect() }
                        handler.expect<Seen.Disconnected>().reason shouldBe
                            DisconnectReason.ClosedLocally(1000, "", acknowledged = false)
                        client.awaitDisconnected().reason shouldBe
                            DisconnectReason.ClosedLocally(1000, "", acknowledged = false)
                        client.shouldStillServeTell(handler)
                    }
                }
            }
        }

        context("connection errors") {
            test("an unreachable host gives ConnectFailed(ConnectException) and the client stays alive (Parley #12)") {
                val handler = recorder()
                withClient(handler, Unit, parleyOptions { url = "ws://127.0.0.1:${unusedPort()}/ws" }) { client ->
                    val reason = handler.expect<Seen.Disconnected>().reason
                    reason.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                    reason.cause.shouldBeInstanceOf<ConnectException>()
                    val state = client.awaitDisconnected()
                    state.reason shouldBe reason
                    state.nextAttemptIn.shouldBeNull()
                    client.shouldStillServeTell(handler)
                }
            }

            test("a server answering garbage instead of HTTP gives ConnectFailed, client alive (Parley #16)") {
                GarbageHttpServer().use { garbage ->
                    val handler = recorder()
                    val options = parleyOptions {
                        url = garbage.url()
                        connectTimeout = 2.seconds
                    }
                    withClient(handler, Unit, options) { client ->
                        // No status line could be parsed, so this is not a HandshakeRejected.
                        handler.expect<Seen.Disconnected>().reason.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                        client.shouldStillServeTell(handler)
                    }
                }
            }

            test("a server that never completes the upgrade gives ConnectTimedOut after connectTimeout (Parley #18)") {
                SilentServer().use { silent ->
                    val handler = recorder()
                    val options = parleyOptions {
                        url = silent.url()
                        connectTimeout = 100.milliseconds
                    }
                    withClient(handler, Unit, options) { client ->
                        handler.expect<Seen.Disconnected>(2.seconds).reason shouldBe
                            DisconnectReason.ConnectTimedOut(100.milliseconds)
                        silent.accepted shouldBe 1
                        client.shouldStillServeTell(handler)
                    }
                }
            }

            test("a send() waiting for a stuck upgrade fails with ConnectionClosedException, not a hang (Parley #19)") {
                SilentServer().use { silent ->
                    val handler = recorder()
                    val timeout = 200.milliseconds
                    val options = parleyOptions {
                        url = silent.url()
                        connectTimeout = timeout
                    }
                    withClient(handler, Unit, options) { client ->
                        client.awaitState { it is ConnectionState.Connecting }
                        val failure = shouldThrow<ConnectionClosedException> {
                            withTimeout(timeout + 1.seconds) { client.send(Frame.Text("stuck")) }
                        }
                        failure.reason shouldBe DisconnectReason.ConnectTimedOut(timeout)
                    }
                }
            }

            test("a push from onFrame racing the server's crash ends in Disconnected, not Stopped (Parley #33)") {
                // send_and_crash: the server pushes "push_this" and drops TCP ~10 ms later. Whether the push write
                // or the read fails first is a race (as in Parley); either way the client must stay alive.
                val handler = RecordingHandler<Unit>(
                    onReceived = { frame, s ->
                        if (frame == Frame.Text(ServerCommand.PUSHED_TEXT)) {
                            HandlerAction.Push(Frame.Text("pushed back"), s)
                        } else {
                            HandlerAction.Ok(s)
                        }
                    },
                )
                echoing(handler = handler) { client, _ ->
                    client.trigger("send_and_crash")
                    handler.nextFrame() shouldBe Frame.Text(ServerCommand.PUSHED_TEXT)
                    handler.awaitSeen<Seen.Disconnected>().reason
                        .shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    client.awaitDisconnected().reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    client.shouldStillServeTell(handler)
                }
            }
        }

        context("custom state and init") {
            test("the initial state is passed through to onConnect (Parley #20)") {
                data class Counter(val counter: Int)
                val handler = RecordingHandler<Counter>()
                echoing(handler = handler, initial = Counter(7), awaitOnConnect = false) { _, _ ->
                    handler.expect<Seen.Connected>().state shouldBe Counter(7)
                }
            }

            test("init transforms the initial state before onConnect sees it (Parley #34)") {
                val handler = RecordingHandler<Int>(onInit = { InitResult.Init(it * 2) })
                echoing(handler = handler, initial = 21, awaitOnConnect = false) { _, _ ->
                    handler.expect<Seen.Connected>().state shouldBe 42
                }
            }

            test("InitResult.Stop stops the client with ByHandler before any connection attempt (Parley #35)") {
                KtorTestServer().start().use { server ->
                    val handler = RecordingHandler<Int>(onInit = { InitResult.Stop("bad_arg") })
                    withClient(handler, 21, parleyOptions { url = server.url() }) { client ->
                        client.awaitStopped().reason shouldBe StopReason.ByHandler("bad_arg")
                        server.upgradeRequests.size shouldBe 0
                        handler.seen.tryReceive().getOrNull().shouldBeNull()
                    }
                }
            }
        }

        context("names (Parley #21–#27: registration and child_spec have no JVM equivalent)") {
            test("the name option becomes the client's name (Parley #21, #24)") {
                echoing(options = { name = "ticker-feed" }) { client, handler ->
                    client.name shouldBe "ticker-feed"
                    client.sendWithin(Frame.Text("by name"))
                    handler.nextFrame() shouldBe Frame.Text("by name")
                }
            }

            test("two clients with different names run side by side, each with its own traffic (Parley #22, #26)") {
                KtorTestServer().start().use { server ->
                    val handlerA = recorder()
                    val handlerB = recorder()
                    withClient(
                        handlerA,
                        Unit,
                        parleyOptions {
                            url = server.url()
                            name = "feed-a"
                        },
                    ) { a ->
                        withClient(
                            handlerB,
                            Unit,
                            parleyOptions {
                                url = server.url()
                                name = "feed-b"
                            },
                        ) { b ->
                            a.awaitConnected()
                            b.awaitConnected()
                            handlerA.expect<Seen.Connected>()
                            handlerB.expect<Seen.Connected>()
                            a.name shouldBe "feed-a"
                            b.name shouldBe "feed-b"
                            a.sendWithin(Frame.Text("from a"))
                            b.sendWithin(Frame.Text("from b"))
                            handlerA.nextFrame() shouldBe Frame.Text("from a")
                            handlerB.nextFrame() shouldBe Frame.Text("from b")
                            server.acceptedConnections.awaitCount(2)
                        }
                    }
                }
            }
        }

        context("start variants") {
            test("a standalone client outlives the coroutine scope that started it (Parley #28)") {
                KtorTestServer().start().use { server ->
                    val handler = recorder()
                    val starter = CoroutineScope(Job())
                    val client = starter.async { Parley.start(handler, Unit, parleyOptions { url = server.url() }) }
                        .await()
                    try {
                        starter.cancel()
                        client.awaitConnected()
                        handler.expect<Seen.Connected>()
                        client.sendWithin(Frame.Text("unlinked"))
                        handler.nextFrame() shouldBe Frame.Text("unlinked")
                    } finally {
                        client.stop()
                    }
                }
            }

            test("startParley forwards the connection options (headers reach /ws/auth) (Parley #48)") {
                KtorTestServer().start().use { server ->
                    val handler = recorder()
                    coroutineScope {
                        val client = startParley(
                            handler,
                            Unit,
                            parleyOptions {
                                url = server.url("/ws/auth")
                                header("Authorization", "Bearer linked")
                            },
                        )
                        try {
                            client.awaitConnected()
                            handler.expect<Seen.Connected>()
                            client.sendWithin(Frame.Text("linked"))
                            handler.nextFrame() shouldBe Frame.Text("linked")
                        } finally {
                            client.stop()
                        }
                    }
                    server.upgradeRequests.all.last().header("authorization") shouldBe "Bearer linked"
                }
            }
        }

        context("handler actions") {
            test("Push from onConnect sends the frame once connected (Parley #29)") {
                val handler = RecordingHandler<Unit>(
                    onConnected = { HandlerAction.Push(Frame.Text("hello on connect"), it) },
                )
                echoing(handler = handler) { _, _ ->
                    handler.nextFrame() shouldBe Frame.Text("hello on connect")
                }
            }

            test("Stop from onConnect stops the client with ByHandler and no onDisconnect (Parley #30)") {
                val handler = RecordingHandler<Unit>(onConnected = { HandlerAction.Stop("rejected", it) })
                KtorTestServer().start().use { server ->
                    // Connected may be conflated away by Stopped, so only onConnect proves the upgrade happened.
                    withClient(handler, Unit, parleyOptions { url = server.url() }) { client ->
                        handler.expect<Seen.Connected>()
                        client.awaitStopped().reason shouldBe StopReason.ByHandler("rejected")
                        // Stopped is terminal, so nothing can still be on its way to the handler.
                        handler.seen.tryReceive().getOrNull().shouldBeNull()
                        server.closeFrames.awaitNext() shouldBe CloseFrameRecord(1000, "")
                    }
                }
            }

            test("Push from onFrame sends a reply frame (Parley #31)") {
                val handler = RecordingHandler<Unit>(
                    onReceived = { frame, s ->
                        val text = (frame as? Frame.Text)?.text.orEmpty()
                        if (text.startsWith("echo:")) {
                            HandlerAction.Push(Frame.Text("reply:" + text.removePrefix("echo:")), s)
                        } else {
                            HandlerAction.Ok(s)
                        }
                    },
                )
                echoing(handler = handler) { client, _ ->
                    client.sendWithin(Frame.Text("echo:test"))
                    handler.nextFrame() shouldBe Frame.Text("echo:test")
                    handler.nextFrame() shouldBe Frame.Text("reply:test")
                }
            }

            test("Stop from onFrame stops the client with ByHandler (Parley #32)") {
                val handler = RecordingHandler<Unit>(
                    onReceived = { frame, s ->
                        if (frame == Frame.Text("stop")) HandlerAction.Stop("done", s) else HandlerAction.Ok(s)
                    },
                )
                echoing(handler = handler) { client, _ ->
                    client.sendWithin(Frame.Text("stop"))
                    client.awaitStopped().reason shouldBe StopReason.ByHandler("done")
                    handler.nextFrame() shouldBe Frame.Text("stop")
                    handler.seen.tryReceive().getOrNull().shouldBeNull()
                }
            }
        }

        context("onInfo (client.tell)") {
            test("receives a message while connected, with the current state (Parley #36)") {
                val handler = RecordingHandler<String>()
                echoing(handler = handler, initial = "live") { client, _ ->
                    client.tell("hello") shouldBe true
                    handler.expect<Seen.Info>() shouldBe Seen.Info("hello", "live")
                }
            }

            test("Push from onInfo sends a frame while connected (Parley #37)") {
                val handler = RecordingHandler<Unit>(
                    onInformed = { msg, s ->
                        if (msg == "send_heartbeat") {
                            HandlerAction.Push(Frame.Text("heartbeat"), s)
                        } else {
                            HandlerAction.Ok(s)
                        }
                    },
                )
                echoing(handler = handler) { client, _ ->
                    client.tell("send_heartbeat") shouldBe true
                    handler.expect<Seen.Info>().message shouldBe "send_heartbeat"
                    handler.nextFrame() shouldBe Frame.Text("heartbeat")
                }
            }

            test("Stop from onInfo stops the client with ByHandler (Parley #38)") {
                val handler = RecordingHandler<Unit>(onInformed = { _, s -> HandlerAction.Stop("info_stop", s) })
                echoing(handler = handler) { client, _ ->
                    client.tell("please stop") shouldBe true
                    client.awaitStopped().reason shouldBe StopReason.ByHandler("info_stop")
                }
            }

            test("receives messages while disconnected (Parley #39)") {
                echoing { client, handler ->
                    client.disconnect()
                    handler.expect<Seen.Disconnected>()
                    client.tell("while down") shouldBe true
                    handler.expect<Seen.Info>().message shouldBe "while down"
                }
            }

            test("tell returns false once the client is stopped") {
                echoing { client, _ ->
                    client.stop()
                    client.tell("too late") shouldBe false
                }
            }

            test("trySend after stop is Rejected with ClientStoppedException(Requested)") {
                echoing { client, _ ->
                    client.stop()
                    val result = client.trySend(Frame.Text("too late"))
                    result.shouldBeInstanceOf<SendResult.Rejected>()
                    val cause = result.cause.shouldBeInstanceOf<ClientStoppedException>()
                    cause.reason shouldBe StopReason.Requested
                }
            }
        }

        context("onPing") {
            test("the default handler keeps the connection alive: the pong reaches the server (Parley #40)") {
                echoing { client, handler, server ->
                    client.sendWithin(Frame.Text("send_ping"))
                    handler.expect<Seen.Pinged>().payload shouldBe "ping"
                    server.pongs.awaitNext().decodeToString() shouldBe "ping"
                    client.sendWithin(Frame.Text("still here"))
                    handler.nextFrame() shouldBe Frame.Text("still here")
                }
            }

            test("onPing receives the ping's payload (Parley #41)") {
                echoing { client, handler ->
                    client.sendWithin(Frame.Text("send_ping:hello"))
                    handler.expect<Seen.Pinged>().payload shouldBe "hello"
                }
            }

            test("Push from onPing sends a frame (Parley #42)") {
                val handler = RecordingHandler<Unit>(
                    onPinged = { _, s -> HandlerAction.Push(Frame.Text("got_ping"), s) },
                )
                echoing(handler = handler) { client, _ ->
                    client.sendWithin(Frame.Text("send_ping"))
                    handler.expect<Seen.Pinged>()
                    handler.nextFrame() shouldBe Frame.Text("got_ping")
                }
            }

            test("Stop from onPing stops the client with ByHandler (Parley #43)") {
                val handler = RecordingHandler<Unit>(onPinged = { _, s -> HandlerAction.Stop("ping_stop", s) })
                echoing(handler = handler) { client, _ ->
                    client.sendWithin(Frame.Text("send_ping"))
                    client.awaitStopped().reason shouldBe StopReason.ByHandler("ping_stop")
                }
            }
        }

        context("connection options") {
            test("headers are sent with the upgrade: /ws/auth accepts a Bearer token (Parley #44)") {
                echoing(
                    path = "/ws/auth",
                    options = { header("Authorization", "Bearer t0k3n") },
                ) { client, handler, server ->
                    client.sendWithin(Frame.Text("authorised"))
                    handler.nextFrame() shouldBe Frame.Text("authorised")
                    server.upgradeRequests.all.single().header("authorization") shouldBe "Bearer t0k3n"
                }
            }

            test("without the header /ws/auth gives HandshakeRejected(401) with www-authenticate (Parley #45)") {
                KtorTestServer().start().use { server ->
                    val handler = recorder()
                    withClient(handler, Unit, parleyOptions { url = server.url("/ws/auth") }) { client ->
                        val reason = handler.expect<Seen.Disconnected>().reason
                        reason.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>()
                        reason.status shouldBe 401
                        reason.headers["www-authenticate"] shouldBe listOf("Bearer")
                        client.shouldStillServeTell(handler)
                    }
                }
            }

            test("an offered subprotocol is negotiated and reported in Connected (Parley #47)") {
                echoing(options = { subprotocols += "chat" }) { client, _, server ->
                    (client.state.value as ConnectionState.Connected).subprotocol shouldBe "chat"
                    server.upgradeRequests.all.single().header("sec-websocket-protocol") shouldBe "chat"
                }
            }
        }
    })

/** Both real server stacks: an echo behaviour that works against only one of them is a bug. */
private val realServers = listOf<Pair<String, () -> ParleyTestServer>>(
    "Ktor" to { KtorTestServer() },
    "Jetty" to { JettyTestServer() },
)

/** Starts a standalone client, runs [block], and always stops it. */
private suspend fun <S> withClient(
    handler: ParleyHandler<S>,
    initial: S,
    options: ParleyOptions,
    block: suspend (ParleyClient) -> Unit,
) {
    val client = Parley.start(handler, initial, options)
    try {
        block(client)
    } finally {
        client.stop()
    }
}

/**
 * Starts a server from [makeServer] and a client on [path], waits until connected (and, with [awaitOnConnect], until
 * onConnect ran), then runs [block]. The server and the client are always released.
 */
private suspend fun <S> echoing(
    makeServer: () -> ParleyTestServer = { KtorTestServer() },
    handler: RecordingHandler<S>,
    initial: S,
    path: String = "/ws",
    options: ParleyOptions.Builder.() -> Unit = {},
    awaitOnConnect: Boolean = true,
    block: suspend (ParleyClient, RecordingHandler<S>, ParleyTestServer) -> Unit,
) {
    makeServer().start().use { server ->
        val opts = parleyOptions {
            url = server.url(path)
            options()
        }
        withClient(handler, initial, opts) { client ->
            client.awaitConnected()
            if (awaitOnConnect) handler.expect<Seen.Connected>()
            block(client, handler, server)
        }
    }
}

private suspend fun <S> echoing(
    makeServer: () -> ParleyTestServer = { KtorTestServer() },
    handler: RecordingHandler<S>,
    initial: S,
    path: String = "/ws",
    options: ParleyOptions.Builder.() -> Unit = {},
    awaitOnConnect: Boolean = true,
    block: suspend (ParleyClient, RecordingHandler<S>) -> Unit,
) = echoing(makeServer, handler, initial, path, options, awaitOnConnect) { c, h, _: ParleyTestServer -> block(c, h) }

private suspend fun echoing(
    makeServer: () -> ParleyTestServer = { KtorTestServer() },
    handler: RecordingHandler<Unit> = recorder(),
    path: String = "/ws",
    options: ParleyOptions.Builder.() -> Unit = {},
    block: suspend (ParleyClient, RecordingHandler<Unit>, ParleyTestServer) -> Unit,
) = echoing(makeServer, handler, Unit, path, options, awaitOnConnect = true, block)

@JvmName("echoingNoServer")
private suspend fun echoing(
    makeServer: () -> ParleyTestServer = { KtorTestServer() },
    handler: RecordingHandler<Unit> = recorder(),
    path: String = "/ws",
    options: ParleyOptions.Builder.() -> Unit = {},
    block: suspend (ParleyClient, RecordingHandler<Unit>) -> Unit,
) = echoing(makeServer, handler, Unit, path, options, awaitOnConnect = true) { c, h, _: ParleyTestServer ->
    block(c, h)
}

/** The next callback must be onFrame; returns its frame. */
private suspend fun RecordingHandler<*>.nextFrame(timeout: Duration = 5.seconds): Frame =
    expect<Seen.Received>(timeout).frame

/** The client is alive (not Stopped): a message told to it reaches onInfo. */
private suspend fun ParleyClient.shouldStillServeTell(handler: RecordingHandler<*>) {
    state.value.shouldBeInstanceOf<ConnectionState.Disconnected>()
    tell("alive?") shouldBe true
    handler.expect<Seen.Info>().message shouldBe "alive?"
}

/** send() suspends until the frame is written: bound it, so a frame that is never written fails the test. */
private suspend fun ParleyClient.sendWithin(frame: Frame, timeout: Duration = 5.seconds) {
    withTimeoutOrNull(timeout) { send(frame) } ?: throw AssertionError("send($frame) was not written within $timeout")
}

/**
 * Queues a server command whose reaction ends the connection. The command's own send outcome is not the claim here:
 * the server may end the connection before our flush of that very frame returns, and the frame is then reported as
 * failed (ConnectionClosedException) although the server acted on it.
 */
private fun ParleyClient.trigger(command: String) {
    trySend(Frame.Text(command)).shouldBeInstanceOf<SendResult.Enqueued>()
}
