package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.awaitDisconnected
import dev.parley.support.recorder
import dev.parley.testing.RawFrame
import dev.parley.testing.RawPeer
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.WsOpcode
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.comparables.shouldBeGreaterThanOrEqualTo
import io.kotest.matchers.comparables.shouldBeLessThan
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.nulls.shouldNotBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.io.EOFException
import java.io.IOException
import java.net.SocketException
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource

/** Answers the upgrade request by hand, for a server built with `answerUpgrade = false`. */
private suspend fun RawPeer.answerUpgrade() = sendRaw(switchingProtocolsHead().encodeToByteArray())

/**
 * The client's next frame, or `null` if it closed TCP instead (EOF or reset). A timeout still fails: the client must
 * either send something or hang up within [timeout].
 */
private suspend fun RawPeer.readFrameOrEnd(timeout: Duration = 5.seconds): RawFrame? = try {
    readFrame(timeout)
} catch (e: AssertionError) {
    // Coroutine stack-trace recovery may wrap the AssertionError once more, so look down the whole chain.
    if (e.chain().any { it is EOFException }) null else throw e
} catch (e: SocketException) {
    null
}

/** Reads the client's next frame, which must be a close frame with [code] (`null`: an empty payload). */
private suspend fun RawPeer.expectClose(code: Int?): RawFrame {
    val frame = readFrame()
    withClue("expected a close frame but read $frame") { frame.opcode shouldBe WsOpcode.CLOSE }
    frame.closeCode shouldBe code
    return frame
}

/** After the client's close: the peer reads nothing more but the end of the connection. */
private suspend fun RawPeer.expectEnd() {
    val frame = readFrameOrEnd()
    withClue("expected the client to close TCP but it sent ${frame?.let { "$it '${it.text}'" }}") {
        frame.shouldBeNull()
    }
}

private class ProtocolFixture(
    val raw: RawWebSocketServer,
    val client: ParleyClient,
    val peer: RawPeer,
    val handler: RecordingHandler<Unit>,
)

/** Starts a client against a fresh raw server, waits for its onConnect, runs [block], then stops both. */
private suspend fun connected(
    handler: RecordingHandler<Unit> = recorder(),
    configure: ParleyOptions.Builder.() -> Unit = {},
    block: suspend ProtocolFixture.() -> Unit,
) {
    RawWebSocketServer().use { raw ->
        val client =
            Parley.start(
                handler,
                Unit,
                parleyOptions {
                    url = raw.url()
                    configure()
                },
            )
        try {
            val peer = raw.awaitConnection()
            handler.expect<Seen.Connected>()
            ProtocolFixture(raw, client, peer, handler).block()
        } finally {
            client.stop()
        }
    }
}

private fun Throwable.chain(): List<Throwable> = generateSequence(this) { it.cause }.take(10).toList()

private fun Throwable.isOsIoFailure(): Boolean = this is IOException && javaClass.name.startsWith("java.")

private fun Throwable.describe(): String = chain().joinToString(" <- ") { "${it::class.qualifiedName}(${it.message})" }

class ProtocolSpec :
    FunSpec({
        test("a server ping is answered with a pong carrying the same payload, then onPing sees it") {
            connected {
                peer.sendFrame(WsOpcode.PING, "are you there".encodeToByteArray())
                val pong = peer.readFrame()
                pong.opcode shouldBe WsOpcode.PONG
                pong.text shouldBe "are you there"
                handler.expect<Seen.Pinged>().payload shouldBe "are you there"
                peer.sendFrame(WsOpcode.PING)
                val empty = peer.readFrame()
                empty.opcode shouldBe WsOpcode.PONG
                empty.payload.size shouldBe 0
                handler.expect<Seen.Pinged>().payload shouldBe ""
            }
        }

        test("disconnect(4001, bye) sends a masked close frame; the peer's answer makes it acknowledged") {
            connected {
                coroutineScope {
                    val done = async { client.disconnect(4001, "bye") }
                    // readFrame fails on an unmasked client frame.
                    val close = peer.expectClose(4001)
                    close.closeReason shouldBe "bye"
                    peer.sendClose(4001, "bye")
                    withTimeout(5.seconds) { done.await() }
                }
                handler.awaitSeen<Seen.Disconnected>().reason shouldBe
                    DisconnectReason.ClosedLocally(
                        4001,
                        "bye",
                        acknowledged = true,
                        peerCode = 4001,
                        peerReason = "bye",
                    )
                client.awaitDisconnected().reason shouldBe
                    DisconnectReason.ClosedLocally(4001, "bye", true, 4001, "bye")
                peer.expectEnd()
            }
        }

        test("a peer that never answers our close is aborted after closeTimeout, not before") {
            val closeTimeout = 300.milliseconds
            connected(configure = { this.closeTimeout = closeTimeout }) {
                val started = TimeSource.Monotonic.markNow()
                coroutineScope {
                    val done = async { client.disconnect(4001, "bye") }
                    peer.expectClose(4001)
                    // The peer stays silent. The socket is aborted in the same step that reports the outcome, so
                    // the time of onDisconnect is the time of the abort.
                    handler.awaitSeen<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.ClosedLocally(4001, "bye", acknowledged = false)
                    val gaveUpAfter = started.elapsedNow()
                    withTimeout(5.seconds) { done.await() }
                    gaveUpAfter shouldBeGreaterThanOrEqualTo closeTimeout - 20.milliseconds
                    gaveUpAfter shouldBeLessThan 3.seconds
                }
                peer.awaitClosedByClient()
                client.awaitDisconnected().reason shouldBe DisconnectReason.ClosedLocally(4001, "bye", false)
            }
        }

        test("a remote close 4002 is answered with 4002 and reported as ClosedByPeer") {
            connected {
                peer.sendClose(4002, "bye")
                peer.expectClose(4002)
                handler.awaitSeen<Seen.Disconnected>().reason shouldBe DisconnectReason.ClosedByPeer(4002, "bye")
                peer.expectEnd()
                client.awaitDisconnected().reason shouldBe DisconnectReason.ClosedByPeer(4002, "bye")
            }
        }

        test("an empty remote close is answered with an empty close and reported as ClosedByPeer(1005)") {
            connected {
                peer.sendFrame(WsOpcode.CLOSE)
                peer.expectClose(null).payload.size shouldBe 0
                handler.awaitSeen<Seen.Disconnected>().reason shouldBe
                    DisconnectReason.ClosedByPeer(CloseCodes.NO_STATUS, "")
                peer.expectEnd()
            }
        }

        val violations: List<Triple<String, Int, suspend RawPeer.() -> Unit>> =
            listOf(
                Triple("text that is not UTF-8", 1007, {
                    sendFrame(WsOpcode.TEXT, byteArrayOf(0x61, 0xC3.toByte(), 0x28))
                }),
                Triple("a frame with reserved bits set", 1002, {
                    sendFrame(WsOpcode.TEXT, "x".encodeToByteArray(), rsv = 4)
                }),
                Triple("a close frame with code 1005 on the wire", 1002, { sendClose(CloseCodes.NO_STATUS) }),
                Triple("a close frame with a 1-byte payload", 1002, { sendFrame(WsOpcode.CLOSE, byteArrayOf(3)) }),
                Triple("an unknown opcode 3", 1002, { sendFrame(3, "?".encodeToByteArray()) }),
                Triple("a continuation without a message", 1002, {
                    sendFrame(WsOpcode.CONTINUATION, "x".encodeToByteArray())
                }),
                Triple("a fragmented ping", 1002, { sendFrame(WsOpcode.PING, fin = false) }),
                Triple("a ping of 126 bytes", 1002, { sendFrame(WsOpcode.PING, ByteArray(126)) }),
                // RFC 6455 §5.1: a client must close the connection when the server masks a frame.
                Triple("a masked frame from the server", 1002, {
                    sendFrame(WsOpcode.TEXT, "x".encodeToByteArray(), mask = true)
                }),
                Triple("a 64-bit frame length with the high bit set", 1002, {
                    sendRaw(byteArrayOf(0x82.toByte(), 127) + ByteArray(8) { if (it == 0) 0x80.toByte() else 0 })
                }),
            )
        for ((what, code, misbehave) in violations) {
            test("$what: the client closes with $code and reports ProtocolViolation($code)") {
                connected {
                    peer.misbehave()
                    peer.expectClose(code)
                    val reason = handler.awaitSeen<Seen.Disconnected>().reason
                    reason.shouldBeInstanceOf<DisconnectReason.ProtocolViolation>().closeCode shouldBe code
                    peer.expectEnd()
                    // A protocol violation ends the connection, not the client.
                    client.awaitDisconnected().reason shouldBe reason
                }
            }
        }

        test("a message larger than maxFrameSize closes with 1009; the client stays alive and reconnects") {
            connected(configure = { maxFrameSize = 1000 }) {
                peer.sendText("a".repeat(1001))
                peer.expectClose(CloseCodes.MESSAGE_TOO_BIG)
                handler.awaitSeen<Seen.Disconnected>().reason shouldBe DisconnectReason.MessageTooBig(1000)
                val down = client.awaitDisconnected()
                down.reason shouldBe DisconnectReason.MessageTooBig(1000)
                client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>()
                peer.expectEnd()

                client.connect()
                val again = raw.awaitConnection()
                handler.expect<Seen.Connected>()
                client.send(Frame.Text("again"))
                again.readFrame().text shouldBe "again"
                again.sendText("a".repeat(1000))
                handler.expect<Seen.Received>().frame shouldBe Frame.Text("a".repeat(1000))
            }
        }

        test("a frame announcing more than maxFrameSize is refused with 1009 before its payload arrives") {
            connected(configure = { maxFrameSize = 1000 }) {
                // Only the header of a 1 GiB binary frame: the client must not wait for (or allocate) the payload.
                peer.sendRaw(
                    byteArrayOf(0x82.toByte(), 127) + java.nio.ByteBuffer.allocate(8).putLong(1L shl 30).array(),
                )
                peer.expectClose(CloseCodes.MESSAGE_TOO_BIG)
                handler.awaitSeen<Seen.Disconnected>().reason shouldBe DisconnectReason.MessageTooBig(1000)
            }
        }

        test("fragments that together exceed maxFrameSize close with 1009 and report MessageTooBig") {
            connected(configure = { maxFrameSize = 1000 }) {
                peer.sendFrame(WsOpcode.TEXT, ByteArray(600) { 'a'.code.toByte() }, fin = false)
                peer.sendFrame(WsOpcode.CONTINUATION, ByteArray(600) { 'b'.code.toByte() }, fin = true)
                peer.expectClose(CloseCodes.MESSAGE_TOO_BIG)
                handler.awaitSeen<Seen.Disconnected>().reason shouldBe DisconnectReason.MessageTooBig(1000)
                peer.expectEnd()
            }
        }

        test("a fragmented text message with a ping in the middle reaches onFrame once, whole; the ping is answered") {
            connected {
                peer.sendFrame(WsOpcode.TEXT, "Hel".encodeToByteArray(), fin = false)
                peer.sendFrame(WsOpcode.PING, "mid".encodeToByteArray())
                peer.sendFrame(WsOpcode.CONTINUATION, "lo, ".encodeToByteArray(), fin = false)
                peer.sendFrame(WsOpcode.CONTINUATION, "world".encodeToByteArray(), fin = true)
                val pong = peer.readFrame()
                pong.opcode shouldBe WsOpcode.PONG
                pong.text shouldBe "mid"
                handler.expect<Seen.Pinged>().payload shouldBe "mid"
                handler.expect<Seen.Received>().frame shouldBe Frame.Text("Hello, world")
                // The next callback is the next message: no partial or repeated delivery in between.
                peer.sendText("after")
                handler.expect<Seen.Received>().frame shouldBe Frame.Text("after")
            }
        }

        for ((what, server, url) in listOf<Triple<String, () -> RawWebSocketServer, (RawWebSocketServer) -> String>>(
            Triple("an IPv6 literal", { RawWebSocketServer(host = "::1") }, { it.url() }),
            Triple("a host name", { RawWebSocketServer() }, { "ws://localhost:${it.port}/ws?q=1" }),
        )) {
            test("connects to $what, with the Host header and request target RFC 6455 §4.1 asks for") {
                server().use { raw ->
                    val handler = recorder()
                    val target = url(raw)
                    val client = Parley.start(handler, Unit, parleyOptions { this.url = target })
                    try {
                        val peer = raw.awaitConnection()
                        handler.expect<Seen.Connected>()
                        val authority = java.net.URI(target).rawAuthority
                        peer.request.header("host") shouldBe authority
                        peer.request.requestLine shouldBe "GET ${target.substringAfter(authority)} HTTP/1.1"
                        client.send(Frame.Text("over $what"))
                        peer.readFrame().text shouldBe "over $what"
                    } finally {
                        client.stop()
                    }
                }
            }
        }

        test("a 101 with a wrong Sec-WebSocket-Accept is HandshakeRejected(101)") {
            RawWebSocketServer(acceptOverride = "d3JvbmcgYWNjZXB0IGtleT0=").use { raw ->
                val handler = recorder()
                val client = Parley.start(handler, Unit, parleyOptions { url = raw.url() })
                try {
                    val reason = handler.awaitSeen<Seen.Disconnected>().reason
                    val rejected = reason.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>()
                    rejected.status shouldBe 101
                    rejected.message shouldContain "Sec-WebSocket-Accept"
                    client.awaitDisconnected().reason shouldBe reason
                    raw.awaitConnection().awaitClosedByClient()
                } finally {
                    client.stop()
                }
            }
        }

        for ((what, fault) in listOf(
            "without 'Upgrade: websocket'" to "Upgrade: h2c",
            "without 'Connection: Upgrade'" to "Connection: keep-alive",
        )) {
            test("a 101 $what is HandshakeRejected(101) (RFC 6455 §4.1)") {
                RawWebSocketServer(answerUpgrade = false).use { raw ->
                    val handler = recorder()
                    val client = Parley.start(handler, Unit, parleyOptions { url = raw.url() })
                    try {
                        val peer = raw.awaitConnection()
                        val key = peer.request.header("sec-websocket-key").shouldNotBeNull()
                        val headers =
                            listOf("Upgrade: websocket", "Connection: Upgrade").map {
                                if (it.substringBefore(':') == fault.substringBefore(':')) fault else it
                            }
                        val head =
                            "HTTP/1.1 101 Switching Protocols\r\n" + headers.joinToString("") { "$it\r\n" } +
                                "Sec-WebSocket-Accept: ${RawWebSocketServer.acceptKey(key)}\r\n\r\n"
                        peer.sendRaw(head.encodeToByteArray())
                        val rejected =
                            handler.awaitSeen<Seen.Disconnected>().reason
                                .shouldBeInstanceOf<DisconnectReason.HandshakeRejected>()
                        rejected.status shouldBe 101
                        rejected.message shouldContain fault.substringBefore(':')
                        peer.awaitClosedByClient()
                    } finally {
                        client.stop()
                    }
                }
            }
        }

        test("a 101 selecting a subprotocol the client did not offer is HandshakeRejected(101)") {
            RawWebSocketServer(extraHeaders = listOf("Sec-WebSocket-Protocol: evil")).use { raw ->
                val handler = recorder()
                val client =
                    Parley.start(
                        handler,
                        Unit,
                        parleyOptions {
                            url = raw.url()
                            subprotocols += "chat"
                        },
                    )
                try {
                    val rejected =
                        handler.awaitSeen<Seen.Disconnected>().reason
                            .shouldBeInstanceOf<DisconnectReason.HandshakeRejected>()
                    rejected.status shouldBe 101
                    rejected.message shouldContain "evil"
                    raw.awaitConnection().request.offeredSubprotocols shouldBe listOf("chat")
                } finally {
                    client.stop()
                }
            }
        }

        test(
            "frames queued while connecting are delivered exactly once, in order, after any frame pushed by onConnect",
        ) {
            RawWebSocketServer(answerUpgrade = false).use { raw ->
                val handler = RecordingHandler<Unit>(onConnected = { HandlerAction.Push(Frame.Text("first"), it) })
                val client = Parley.start(handler, Unit, parleyOptions { url = raw.url() })
                try {
                    val peer = raw.awaitConnection()
                    client.state.value.shouldBeInstanceOf<ConnectionState.Connecting>()
                    coroutineScope {
                        val tried =
                            withContext(Dispatchers.Default) { (1..3).map { client.trySend(Frame.Text("q$it")) } }
                        val written = tried.map { it.shouldBeInstanceOf<SendResult.Enqueued>().written }
                        // UNDISPATCHED: each send is queued before the next coroutine starts, so the order is defined.
                        val sent =
                            (4..5).map { i ->
                                async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                                    client.send(Frame.Text("q$i"))
                                }
                            }
                        (written + sent).none { it.isCompleted } shouldBe true
                        peer.answerUpgrade()
                        val texts = (1..6).map { peer.readFrame().text }
                        texts shouldContainExactly listOf("first", "q1", "q2", "q3", "q4", "q5")
                        withTimeout(5.seconds) { (written + sent).awaitAll() }
                    }
                    // Nothing was written twice: the next frame on the wire is the next one sent.
                    client.send(Frame.Text("marker"))
                    peer.readFrame().text shouldBe "marker"
                } finally {
                    client.stop()
                }
            }
        }

        test("onConnect returning Disconnect with frames queued: a close frame, then EOF; the queued sends fail") {
            RawWebSocketServer(answerUpgrade = false).use { raw ->
                val handler = RecordingHandler<Unit>(onConnected = { HandlerAction.Disconnect("enough", it) })
                val client = Parley.start(handler, Unit, parleyOptions { url = raw.url() })
                try {
                    val peer = raw.awaitConnection()
                    coroutineScope {
                        val sends =
                            (1..3).map { i ->
                                async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                                    runCatching { client.send(Frame.Text("q$i")) }
                                }
                            }
                        peer.answerUpgrade()
                        peer.expectClose(CloseCodes.NORMAL)
                        val results = withTimeout(5.seconds) { sends.awaitAll() }
                        for (r in results) {
                            r.exceptionOrNull().shouldBeInstanceOf<ConnectionClosedException>()
                        }
                        peer.sendClose(CloseCodes.NORMAL)
                        // No data frame may follow our close frame.
                        peer.expectEnd()
                    }
                    handler.awaitSeen<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.ByHandler(
                            "enough",
                            CloseCodes.NORMAL,
                            acknowledged = true,
                            peerCode = 1000,
                            peerReason = "",
                        )
                } finally {
                    client.stop()
                }
            }
        }

        for (abrupt in listOf(true, false)) {
            val how = if (abrupt) "a TCP reset" else "a FIN"
            test(
                "a peer dropping TCP ($how) while onConnect pushes a frame leaves the client Disconnected, not Stopped",
            ) {
                val inOnConnect = CompletableDeferred<Unit>()
                val dropped = CompletableDeferred<Unit>()
                val handler =
                    RecordingHandler<Unit>(onConnected = {
                        inOnConnect.complete(Unit)
                        dropped.await()
                        HandlerAction.Push(Frame.Text("hello"), it)
                    })
                RawWebSocketServer().use { raw ->
                    val client = Parley.start(handler, Unit, parleyOptions { url = raw.url() })
                    try {
                        val peer = raw.awaitConnection()
                        withTimeout(5.seconds) { inOnConnect.await() }
                        if (abrupt) peer.closeAbruptly() else peer.close()
                        dropped.complete(Unit)
                        handler.awaitSeen<Seen.Disconnected>().reason
                            .shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                        client.awaitDisconnected().reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                        // Still a working client: it connects again and its onConnect push goes out.
                        client.connect()
                        raw.awaitConnection().readFrame().text shouldBe "hello"
                    } finally {
                        client.stop()
                    }
                }
            }
        }

        test("after the peer resets the connection, sends fail and the reason is TransportFailed with its I/O cause") {
            connected {
                peer.closeAbruptly()
                val failure =
                    withTimeout(5.seconds) {
                        var n = 0
                        var failed: ParleyException? = null
                        while (failed == null) {
                            try {
                                client.send(Frame.Text("x${n++}"))
                            } catch (e: ParleyException) {
                                failed = e
                            }
                        }
                        failed
                    }
                // Either the loop saw the end first (NotConnected) or the frame was queued and then failed; then
                // the failure must say why, not just that the connection closed.
                withClue("the send's failure: ${failure.describe()}") {
                    if (failure is ConnectionClosedException) {
                        failure.reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    } else {
                        failure.shouldBeInstanceOf<NotConnectedException>()
                    }
                }
                val cause =
                    handler.awaitSeen<Seen.Disconnected>().reason
                        .shouldBeInstanceOf<DisconnectReason.TransportFailed>().cause
                // The operating system's own report (EOF, reset or broken pipe, depending on which side saw it first),
                // not just a wrapper saying the channel closed.
                withClue("cause chain: ${cause.describe()}") {
                    cause.chain().any { it.isOsIoFailure() } shouldBe true
                }
            }
        }

        test("a handler pushing more than the queue holds onto a reset connection is not left waiting") {
            val entered = CompletableDeferred<Unit>()
            val reset = CompletableDeferred<Unit>()
            // Far more than the socket's channel buffers (about 1 MiB): the writer must fail mid-push, with most of
            // the frames still to hand over through a control queue of 2.
            val pushes = List(50) { Frame.Binary(ByteArray(64 * 1024)) }
            val handler =
                RecordingHandler<Unit>(onReceived = { _, s ->
                    entered.complete(Unit)
                    reset.await()
                    HandlerAction.Push(pushes, s)
                })
            connected(handler, configure = { sendQueueCapacity = 2 }) {
                peer.sendText("push now")
                entered.await()
                peer.closeAbruptly()
                reset.complete(Unit)
                val reason = withTimeoutOrNull(5.seconds) { handler.awaitSeen<Seen.Disconnected>().reason }
                withClue("the loop must get out of the push once the writer has failed") { reason.shouldNotBeNull() }
                reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
            }
        }

        test("a send to a reset connection fails with the write's real cause while a handler callback runs") {
            val gate = CompletableDeferred<Unit>()
            val handler =
                RecordingHandler<Unit>(onReceived = { _, s ->
                    gate.await()
                    HandlerAction.Ok(s)
                })
            connected(handler) {
                // Hold the loop inside onFrame: the frame writer runs on its own, so sends still reach the socket
                // and must find out for themselves that it is dead.
                peer.sendText("hold the loop")
                handler.expect<Seen.Received>()
                peer.closeAbruptly()
                coroutineScope {
                    val sends =
                        async {
                            var n = 0
                            while (true) {
                                try {
                                    client.send(Frame.Text("x${n++}"))
                                } catch (e: ParleyException) {
                                    return@async e
                                }
                            }
                            @Suppress("UNREACHABLE_CODE")
                            error("unreachable")
                        }
                    val failedInTime =
                        try {
                            withTimeoutOrNull(2.seconds) { sends.await() }
                        } finally {
                            gate.complete(Unit)
                        }
                    val failure = failedInTime ?: withTimeout(5.seconds) { sends.await() }
                    withClue(
                        "failed within 2 s of the reset: ${failedInTime != null}; the send's failure: " +
                            "${failure.describe()}; its reason: ${(failure as? ConnectionClosedException)?.reason}",
                    ) {
                        failedInTime.shouldNotBeNull()
                        val reason = failure.shouldBeInstanceOf<ConnectionClosedException>().reason
                        val cause = reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>().cause
                        cause.chain().any { it is java.io.IOException && it !is ParleyException } shouldBe true
                    }
                }
                handler.awaitSeen<Seen.Disconnected>().reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
            }
        }
    })
