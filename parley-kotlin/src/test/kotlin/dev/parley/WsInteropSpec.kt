package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.LOOPBACK
import dev.parley.testing.NginxTls
import dev.parley.testing.ProxyPeers
import dev.parley.testing.ScriptedWsPeer
import dev.parley.testing.TestPki
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.spec.style.scopes.FunSpecContainerScope
import io.kotest.matchers.ints.shouldBeGreaterThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.withTimeout
import kotlin.random.Random
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/*
 * The default transport against WebSocket servers nobody on this project wrote, each scripted by .ci/peers to do the
 * same things: npm's `ws` and Debian's python3-websockets. Echo, server pings, closes with codes, an abrupt drop, a
 * silent server and an HTTP rejection, against each.
 */
class WsInteropSpec :
    FunSpec({
        val starters: List<(Boolean) -> ScriptedWsPeer> =
            listOf({ ScriptedWsPeer.npmWs(it) }, { ScriptedWsPeer.pythonWebsockets(it) })
        for (start in starters) {
            val peer = start(false)
            val deflatingPeer = start(true)
            afterSpec {
                peer.close()
                deflatingPeer.close()
            }
            context(peer.name) { interop(peer::url, deflatingPeer::url) }
        }

        // The same, as wss:// through nginx terminating TLS in front of npm's ws: what users meet in production.
        val behindNginx = ScriptedWsPeer.npmWs()
        val deflatingBehindNginx = ScriptedWsPeer.npmWs(deflate = true)
        val nginx = NginxTls(behindNginx.port)
        val deflatingNginx = NginxTls(deflatingBehindNginx.port)
        afterSpec {
            nginx.close()
            deflatingNginx.close()
            behindNginx.close()
            deflatingBehindNginx.close()
        }
        context("npm ws behind nginx, wss") {
            interop({ nginx.uri(it).toString() }, { deflatingNginx.uri(it).toString() })
        }

        // And through HAProxy, the other TLS-terminating proxy in front of WebSocket servers.
        val haproxy = ProxyPeers.haproxyTls(behindNginx.port)
        val deflatingHaproxy = ProxyPeers.haproxyTls(deflatingBehindNginx.port)
        afterSpec {
            haproxy.close()
            deflatingHaproxy.close()
        }
        context("npm ws behind HAProxy, wss") {
            interop({ "wss://$LOOPBACK:${haproxy.port}$it" }, { "wss://$LOOPBACK:${deflatingHaproxy.port}$it" })
        }

        test(
            "WebSocket-Node echoes, and refuses a 1 MiB frame with its own 1009, which Parley reports, not the broken pipe",
        ) {
            ScriptedWsPeer.websocketNode().use { node ->
                val handler = recorder()
                val client = Parley.start(handler, Unit, parleyOptions { url = node.url("/any") })
                try {
                    handler.expect<Seen.Connected>()
                    client.send(Frame.Text("small enough"))
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("small enough")
                    // Over WebSocket-Node's 64 KiB. The server closes as soon as it has read the header, so the
                    // write may fail with a broken pipe (the send is then told so); the reason is still the server's
                    // 1009, which reached our socket before the reset.
                    runCatching { client.send(Frame.Binary(ByteArray(1 shl 20))) }
                        .onFailure { it.shouldBeInstanceOf<ConnectionClosedException>() }
                    val reason = handler.awaitSeen<Seen.Disconnected>().reason
                    reason.shouldBeInstanceOf<DisconnectReason.ClosedByPeer>().code shouldBe CloseCodes.MESSAGE_TOO_BIG
                } finally {
                    withTimeout(10.seconds) { client.stop() }
                }
            }
        }
    })

/**
 * The scenarios, against the server behind [url] (a path and query to a full URL) and one with deflate on behind
 * [deflatingUrl].
 */
private suspend fun FunSpecContainerScope.interop(url: (String) -> String, deflatingUrl: (String) -> String) {
    /** Runs [block] with a client of [url] and its handler's record; the client is stopped afterwards. */
    suspend fun withClient(
        url: String,
        configure: ParleyOptions.Builder.() -> Unit = {},
        block: suspend (ParleyClient, RecordingHandler<Unit>) -> Unit,
    ) {
        val handler = recorder()
        val client =
            Parley.start(
                handler,
                Unit,
                parleyOptions {
                    this.url = url
                    tls = TlsSettings(trustManager = TestPki.trustManager) // used by the wss:// context only
                    reconnect = null
                    configure()
                },
            )
        try {
            block(client, handler)
        } finally {
            withTimeout(10.seconds) { client.stop() }
        }
    }

    test("text and binary, up to 1 MiB, come back as sent") {
        withClient(url("/echo")) { client, handler ->
            handler.expect<Seen.Connected>()
            val big = Random(11).nextBytes(1 shl 20)
            client.send(Frame.Text("grüße, ws"))
            client.send(Frame.Binary(big))
            handler.expect<Seen.Received>().frame shouldBe Frame.Text("grüße, ws")
            handler.expect<Seen.Received>().frame.shouldBeInstanceOf<Frame.Binary>().bytes.contentEquals(
                big,
            ) shouldBe
                true
        }
    }

    test("the server's pings reach onPing and each is answered with a pong the server counts") {
        withClient(url("/ping?every=100")) { client, handler ->
            handler.expect<Seen.Connected>()
            repeat(3) { handler.expect<Seen.Pinged>().payload shouldBe "peer-ping" }
            client.send(Frame.Text("pongs?"))
            while (true) {
                val seen = handler.next(5.seconds)
                if (seen is Seen.Received) {
                    val text = seen.frame.shouldBeInstanceOf<Frame.Text>().text
                    text.removePrefix("pongs ").toInt() shouldBeGreaterThanOrEqual 3
                    break
                }
            }
        }
    }

    test("a close from the server with a code and reason is ClosedByPeer with both") {
        withClient(url("/close?code=4001&reason=bye-from-ws")) { _, handler ->
            handler.expect<Seen.Connected>()
            handler.awaitSeen<Seen.Disconnected>().reason shouldBe
                DisconnectReason.ClosedByPeer(4001, "bye-from-ws")
        }
    }

    test("a server that drops TCP without a close frame is TransportFailed, after the echo it sent") {
        withClient(url("/destroy?after=1")) { client, handler ->
            handler.expect<Seen.Connected>()
            client.send(Frame.Text("last words"))
            handler.expect<Seen.Received>().frame shouldBe Frame.Text("last words")
            handler.awaitSeen<Seen.Disconnected>().reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
        }
    }

    test("a server that goes silent is found dead by the heartbeat") {
        withClient(url("/silent"), {
            heartbeat {
                interval = 200.milliseconds
                pongTimeout = 300.milliseconds
            }
        }) { _, handler ->
            handler.expect<Seen.Connected>()
            handler.awaitSeen<Seen.Disconnected>(5.seconds).reason shouldBe
                DisconnectReason.HeartbeatTimedOut(300.milliseconds)
        }
    }

    test("an HTTP rejection of the upgrade is HandshakeRejected with its status") {
        withClient(url("/reject?status=403")) { _, handler ->
            handler.awaitSeen<Seen.Disconnected>().reason.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>()
                .status shouldBe 403
        }
    }

    test("a server with permessage-deflate on does not select it when the client does not offer it") {
        withClient(deflatingUrl("/echo"), { compression = null }) { client, handler ->
            handler.expect<Seen.Connected>()
            client.awaitConnected().responseHeaders["sec-websocket-extensions"] shouldBe null
            client.send(Frame.Text("uncompressed"))
            handler.expect<Seen.Received>().frame shouldBe Frame.Text("uncompressed")
        }
    }

    test("a server with permessage-deflate on selects it by default, and text and binary still come back as sent") {
        withClient(deflatingUrl("/echo")) { client, handler ->
            handler.expect<Seen.Connected>()
            client.awaitConnected().responseHeaders["sec-websocket-extensions"].orEmpty().single() shouldContain
                "permessage-deflate"
            val big = Random(12).nextBytes(1 shl 20)
            client.send(Frame.Text("grüße, ".repeat(500)))
            client.send(Frame.Binary(big))
            handler.expect<Seen.Received>().frame shouldBe Frame.Text("grüße, ".repeat(500))
            handler.expect<Seen.Received>().frame.shouldBeInstanceOf<Frame.Binary>().bytes.contentEquals(big) shouldBe
                true
        }
    }
}
