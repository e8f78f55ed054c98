package dev.parley

import dev.parley.internal.transport.ByteLink
import dev.parley.internal.transport.MAX_AUTH_ATTEMPTS
import dev.parley.internal.transport.MAX_PROXY_HEAD_BYTES
import dev.parley.internal.transport.ProxyRoute
import dev.parley.internal.transport.TunnelTarget
import dev.parley.internal.transport.openTunnel
import dev.parley.internal.transport.routeFor
import dev.parley.testing.AcceptingServer
import dev.parley.testing.LOOPBACK
import dev.parley.testing.ProxyPeer
import dev.parley.testing.ProxyPeers
import dev.parley.testing.RawHttpRequest
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.TcpEchoServer
import dev.parley.testing.unusedPort
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.ints.shouldBeGreaterThan
import io.kotest.matchers.longs.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import io.kotest.matchers.types.shouldBeInstanceOf
import io.kotest.matchers.types.shouldBeSameInstanceAs
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runInterruptible
import kotlinx.coroutines.withTimeout
import java.io.DataInputStream
import java.io.IOException
import java.net.InetSocketAddress
import java.net.ProtocolException
import java.net.Proxy
import java.net.ProxySelector
import java.net.Socket
import java.net.SocketAddress
import java.net.URI
import java.nio.ByteBuffer
import java.nio.channels.SocketChannel
import java.util.Collections
import java.util.Random
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.concurrent.thread
import kotlin.time.Duration.Companion.seconds

/*
 * The proxy layer against real proxies (tinyproxy for HTTP CONNECT, microsocks for SOCKS5, both child processes) and
 * against raw fake proxies for what real ones will not do on demand: answer and send the target's first bytes in one
 * write, or answer with garbage. The link under test is a plain blocking SocketChannel; the real transport's own
 * link is tested with the transport.
 */
class ProxyTunnelSpec :
    FunSpec({
        val links = Links()
        val echo = TcpEchoServer()
        val peers = mutableListOf<ProxyPeer>()
        fun peer(start: () -> ProxyPeer): Lazy<ProxyPeer> = lazy { start().also { peers += it } }
        val tinyproxy by peer { ProxyPeers.tinyproxy() }
        val tinyproxyAuth by peer { ProxyPeers.tinyproxy("alice", "secret") }
        val microsocks by peer { ProxyPeers.microsocks() }
        val microsocksAuth by peer { ProxyPeers.microsocks("alice", "secret") }
        val echoTarget = TunnelTarget(LOOPBACK, echo.port, secure = false)

        afterSpec {
            peers.forEach { it.close() }
            echo.close()
        }

        afterTest { links.closeAll() }

        suspend fun tunnel(settings: ProxySettings, target: TunnelTarget = echoTarget): ByteLink =
            withTimeout(20.seconds) {
                val route = settings.routeFor(target).shouldBeInstanceOf<ProxyRoute.Proxied>()
                openTunnel(route, target, links::connect)
            }

        suspend fun failure(settings: ProxySettings, target: TunnelTarget = echoTarget): Throwable {
            val before = links.count()
            val thrown = shouldThrow<IOException> { tunnel(settings, target) }
            // Whatever failed, every connection the tunnel opened is closed again.
            links.openSince(before).shouldBeEmpty()
            return thrown
        }

        context("HTTP CONNECT through tinyproxy") {
            test("bytes written after the tunnel opens reach the target and come back") {
                val link = tunnel(ProxySettings.http(tinyproxy.host, tinyproxy.port))
                link.roundTrip("through tinyproxy") shouldBe "through tinyproxy"
            }

            test("a 407 with no authenticator fails with ProxyAuthRequiredException naming the proxy") {
                val e = failure(ProxySettings.http(tinyproxyAuth.host, tinyproxyAuth.port))
                    .shouldBeInstanceOf<ProxyAuthRequiredException>()
                e.attempts shouldBe 0
                e.challenges shouldContainExactly listOf("Basic realm=\"Tinyproxy\"")
                e.message shouldContain "127.0.0.1:${tinyproxyAuth.port}"
                e.proxyPort shouldBe tinyproxyAuth.port
            }

            test("a 407 answered with Basic credentials opens the tunnel, and the target never sees them") {
                val asked = CopyOnWriteArrayList<ProxyChallenge>()
                val basic = ProxyAuthenticator.basic("alice", "secret")
                val authenticator = ProxyAuthenticator { challenge ->
                    asked += challenge
                    basic.authorize(challenge)
                }
                val link = tunnel(ProxySettings.http(tinyproxyAuth.host, tinyproxyAuth.port, authenticator))
                val marker = "after-auth-${System.nanoTime()}"
                link.roundTrip(marker) shouldBe marker
                asked.map { it.attempt } shouldContainExactly listOf(1)
                asked.single().realm("basic") shouldBe "Tinyproxy"
                asked.single().targetPort shouldBe echo.port
                val seen = echo.received().toString(Charsets.ISO_8859_1)
                seen shouldContain marker
                seen shouldNotContain "Proxy-Authorization"
                seen shouldNotContain "CONNECT"
            }

            // tinyproxy answers wrong credentials with 401, not 407: after credentials were sent, that is a refusal
            // too.
            test("a wrong password fails with ProxyAuthRequiredException after one refused attempt") {
                val settings =
                    ProxySettings.http(
                        tinyproxyAuth.host,
                        tinyproxyAuth.port,
                        ProxyAuthenticator.basic("alice", "nope"),
                    )
                val e = failure(settings).shouldBeInstanceOf<ProxyAuthRequiredException>()
                e.attempts shouldBe 1
                e.message shouldContain "refused the credentials"
                e.message shouldNotContain "nope"
            }

            test("a target the proxy cannot reach fails with ProxyRejectedException carrying the proxy's status") {
                val closed = TunnelTarget(LOOPBACK, unusedPort(), secure = true)
                val e = failure(ProxySettings.http(tinyproxy.host, tinyproxy.port), closed)
                    .shouldBeInstanceOf<ProxyRejectedException>()
                e.status shouldBe 500
                e.message shouldContain "127.0.0.1:${tinyproxy.port}"
                e.message shouldContain "HTTP 500"
            }
        }

        context("SOCKS5 through microsocks") {
            // A target by name is covered by the fake proxy below: "localhost" may mean ::1 first to microsocks,
            // which tries only the first address, and the echo server listens on 127.0.0.1 alone.
            test("without authentication") {
                val settings = ProxySettings.socks5(microsocks.host, microsocks.port)
                tunnel(settings).roundTrip("no auth") shouldBe "no auth"
            }

            test("with username and password") {
                val settings = ProxySettings.socks5(microsocksAuth.host, microsocksAuth.port, "alice", "secret")
                tunnel(settings).roundTrip("authenticated") shouldBe "authenticated"
            }

            test("a wrong password fails with SocksAuthFailedException") {
                val settings = ProxySettings.socks5(microsocksAuth.host, microsocksAuth.port, "alice", "nope")
                val e = failure(settings).shouldBeInstanceOf<SocksAuthFailedException>()
                // RFC 1929: any status but 0 is a failure; microsocks sends 2 (its "general failure").
                e.status shouldBeGreaterThan 0
                e.message shouldContain "127.0.0.1:${microsocksAuth.port}"
                e.message shouldNotContain "nope"
            }

            test("no credentials for a proxy that requires them fails with SocksNoAcceptableMethodException") {
                val e = failure(ProxySettings.socks5(microsocksAuth.host, microsocksAuth.port))
                    .shouldBeInstanceOf<SocksNoAcceptableMethodException>()
                e.offeredUsernamePassword shouldBe false
                e.message shouldContain "username and password"
            }

            test("a target the proxy cannot connect to fails with SocksRejectedException and the RFC 1928 meaning") {
                val closed = TunnelTarget(LOOPBACK, unusedPort(), secure = false)
                val e = failure(ProxySettings.socks5(microsocks.host, microsocks.port), closed)
                    .shouldBeInstanceOf<SocksRejectedException>()
                e.replyCode shouldBe 5
                e.message shouldContain "reply 5, connection refused"
                e.message shouldContain "127.0.0.1:${microsocks.port}"
            }
        }

        context("routes from a ProxySelector") {
            test(
                "ws asks about http://host:port, wss about https://host:port; HTTP means CONNECT, SOCKS means SOCKS5",
            ) {
                val asked = CopyOnWriteArrayList<URI>()
                val selector = selector { uri ->
                    asked += uri
                    if (uri.scheme == "https") {
                        listOf(Proxy(Proxy.Type.SOCKS, InetSocketAddress.createUnresolved("socks.test", 1080)))
                    } else {
                        listOf(Proxy(Proxy.Type.HTTP, InetSocketAddress.createUnresolved("http.test", 3128)))
                    }
                }
                val settings = ProxySettings.selector(selector)
                val plain = settings.routeFor(TunnelTarget("example.test", 80, secure = false))
                    .shouldBeInstanceOf<ProxyRoute.HttpConnect>()
                plain.host shouldBe "http.test"
                plain.port shouldBe 3128
                plain.authenticator shouldBeSameInstanceAs ProxyAuthenticator.jvm()
                val secure = settings.routeFor(TunnelTarget("::1", 8443, secure = true))
                    .shouldBeInstanceOf<ProxyRoute.Socks5>()
                secure.host shouldBe "socks.test"
                asked.map { it.toString() } shouldContainExactly listOf("http://example.test:80", "https://[::1]:8443")
            }

            test("DIRECT, an empty list, a throwing selector and Direct settings all mean a direct connection") {
                val target = TunnelTarget("example.test", 443, secure = true)
                ProxySettings.selector(selector { listOf(Proxy.NO_PROXY) }).routeFor(target) shouldBe ProxyRoute.Direct
                ProxySettings.selector(selector { emptyList() }).routeFor(target) shouldBe ProxyRoute.Direct
                ProxySettings.selector(selector { error("PAC script broke") }).routeFor(target) shouldBe
                    ProxyRoute.Direct
                ProxySettings.direct().routeFor(target) shouldBe ProxyRoute.Direct
            }

            test("the JVM's default selector follows the standard system properties") {
                val keys =
                    listOf(
                        "http.proxyHost",
                        "http.proxyPort",
                        "https.proxyHost",
                        "https.proxyPort",
                        "http.nonProxyHosts",
                    )
                val saved = keys.associateWith { System.getProperty(it) }
                try {
                    System.setProperty("http.proxyHost", "plain-proxy.test")
                    System.setProperty("http.proxyPort", "3128")
                    System.setProperty("https.proxyHost", "tls-proxy.test")
                    System.setProperty("https.proxyPort", "3129")
                    System.setProperty("http.nonProxyHosts", "inside.test")
                    val ws = ProxySettings.system().routeFor(TunnelTarget("outside.test", 80, secure = false))
                        .shouldBeInstanceOf<ProxyRoute.HttpConnect>()
                    (ws.host to ws.port) shouldBe ("plain-proxy.test" to 3128)
                    val wss = ProxySettings.system().routeFor(TunnelTarget("outside.test", 443, secure = true))
                        .shouldBeInstanceOf<ProxyRoute.HttpConnect>()
                    (wss.host to wss.port) shouldBe ("tls-proxy.test" to 3129)
                    ProxySettings.system().routeFor(TunnelTarget("inside.test", 80, secure = false)) shouldBe
                        ProxyRoute.Direct
                } finally {
                    saved.forEach { (key, value) ->
                        if (value == null) System.clearProperty(key) else System.setProperty(key, value)
                    }
                }
            }

            test("a selected proxy carries the tunnel, and one that cannot be reached is reported to the selector") {
                val failed = CopyOnWriteArrayList<SocketAddress>()
                val closedPort = unusedPort()
                val selector = object : ProxySelector() {
                    override fun select(uri: URI): List<Proxy> {
                        val port = if (uri.port == closedPort) closedPort else tinyproxy.port
                        return listOf(Proxy(Proxy.Type.HTTP, InetSocketAddress.createUnresolved(LOOPBACK, port)))
                    }

                    override fun connectFailed(uri: URI, sa: SocketAddress, ioe: IOException) {
                        failed += sa
                    }
                }
                tunnel(ProxySettings.selector(selector)).roundTrip("selected") shouldBe "selected"
                failed.shouldBeEmpty()
                failure(ProxySettings.selector(selector), TunnelTarget(LOOPBACK, closedPort, secure = false))
                    .shouldBeInstanceOf<java.net.ConnectException>()
                failed.map { (it as InetSocketAddress).port } shouldContainExactly listOf(closedPort)
            }
        }

        context("exactly the proxy's answer is read") {
            test("a 200 followed at once by the target's bytes, in one write: those bytes are left on the link") {
                val requests = Collections.synchronizedList(mutableListOf<RawHttpRequest>())
                FakeProxy { _, socket ->
                    requests += RawWebSocketServer.readRequestHead(socket.getInputStream())
                    socket.getOutputStream().write(
                        "HTTP/1.1 200 Connection established\r\nVia: fake\r\n\r\nFROM-TARGET".toByteArray(),
                    )
                }.use { proxy ->
                    val target = TunnelTarget("::1", 443, secure = true)
                    val link = tunnel(ProxySettings.http(LOOPBACK, proxy.port), target)
                    link.readString("FROM-TARGET".length) shouldBe "FROM-TARGET"
                    val request = requests.single()
                    request.requestLine shouldBe "CONNECT [::1]:443 HTTP/1.1"
                    request.header("host") shouldBe "[::1]:443"
                    request.header("user-agent") shouldContain "parley/"
                }
            }

            test("after a 407 the credentials go to a new connection, never the first") {
                val requests = Collections.synchronizedList(mutableListOf<RawHttpRequest>())
                FakeProxy { index, socket ->
                    requests += RawWebSocketServer.readRequestHead(socket.getInputStream())
                    val answer = if (index == 0) {
                        // Keep-alive and a body the client must not wait for: it opens a new connection anyway.
                        "HTTP/1.1 407 Who are you\r\nProxy-Authenticate: Basic realm=\"fake\"\r\n" +
                            "Content-Length: 4\r\n\r\nnope"
                    } else {
                        "HTTP/1.1 200 OK\r\n\r\n"
                    }
                    socket.getOutputStream().write(answer.toByteArray())
                }.use { proxy ->
                    tunnel(ProxySettings.http(LOOPBACK, proxy.port, ProxyAuthenticator.basic("alice", "secret")))
                    proxy.accepted shouldBe 2
                    requests[0].header("proxy-authorization") shouldBe null
                    requests[1].header("proxy-authorization") shouldBe "Basic YWxpY2U6c2VjcmV0"
                }
            }

            test("a SOCKS5 reply with a domain-name bound address, followed at once by the target's bytes") {
                val request = Collections.synchronizedList(mutableListOf<ByteArray>())
                FakeProxy { _, socket ->
                    val input = DataInputStream(socket.getInputStream())
                    val greeting = ByteArray(3).also { input.readFully(it) }
                    check(greeting.contentEquals(byteArrayOf(5, 1, 0))) { "unexpected greeting" }
                    socket.getOutputStream().write(byteArrayOf(5, 0))
                    // VER CMD RSV ATYP=4, then 16 address bytes and 2 port bytes.
                    request += ByteArray(4 + 16 + 2).also { input.readFully(it) }
                    val bound = "bound.test".toByteArray()
                    socket.getOutputStream().write(
                        byteArrayOf(5, 0, 0, 3, bound.size.toByte()) + bound + byteArrayOf(0x1f, 0x90.toByte()) +
                            "FROM-TARGET".toByteArray(),
                    )
                }.use { proxy ->
                    val link = tunnel(ProxySettings.socks5(LOOPBACK, proxy.port), TunnelTarget("::1", 8080, false))
                    link.readString("FROM-TARGET".length) shouldBe "FROM-TARGET"
                    val sent = request.single()
                    sent.take(4) shouldContainExactly listOf<Byte>(5, 1, 0, 4)
                    sent.drop(4).take(16) shouldContainExactly (List<Byte>(15) { 0 } + 1.toByte())
                    sent.takeLast(2) shouldContainExactly listOf<Byte>(0x1f, 0x90.toByte())
                }
            }
        }

        context("SOCKS5 addresses") {
            test("a host name is sent as a name (ATYP 3), so the proxy does the lookup; IPv4 literals as ATYP 1") {
                val requests = Collections.synchronizedList(mutableListOf<ByteArray>())
                FakeProxy { _, socket ->
                    val input = DataInputStream(socket.getInputStream())
                    input.readFully(ByteArray(3))
                    socket.getOutputStream().write(byteArrayOf(5, 0))
                    val head = ByteArray(4).also { input.readFully(it) }
                    val length = when (head[3].toInt()) {
                        1 -> 4
                        3 -> input.readUnsignedByte().also { requests += byteArrayOf(it.toByte()) }
                        else -> error("unexpected address type ${head[3]}")
                    }
                    requests += head + ByteArray(length + 2).also { input.readFully(it) }
                    socket.getOutputStream().write(byteArrayOf(5, 0, 0, 1, 127, 0, 0, 1, 0, 80))
                }.use { proxy ->
                    tunnel(ProxySettings.socks5(LOOPBACK, proxy.port), TunnelTarget("echo.test", 80, false))
                    val byName = requests.toList()
                    byName[0].toList() shouldContainExactly listOf("echo.test".length.toByte())
                    byName[1].take(4) shouldContainExactly listOf<Byte>(5, 1, 0, 3)
                    String(byName[1], 4, "echo.test".length) shouldBe "echo.test"
                    requests.clear()
                    tunnel(ProxySettings.socks5(LOOPBACK, proxy.port), TunnelTarget("10.1.2.3", 443, false))
                    requests.single().toList() shouldContainExactly listOf<Byte>(5, 1, 0, 1, 10, 1, 2, 3, 1, -69)
                }
            }
        }

        context("HTTP CONNECT authentication rounds") {
            test("an authenticator that keeps answering wrongly is asked at most $MAX_AUTH_ATTEMPTS times") {
                FakeProxy { _, socket ->
                    RawWebSocketServer.readRequestHead(socket.getInputStream())
                    socket.getOutputStream().write(
                        "HTTP/1.1 407 No\r\nProxy-Authenticate: Basic realm=\"fake\"\r\n\r\n".toByteArray(),
                    )
                }.use { proxy ->
                    val attempts = CopyOnWriteArrayList<Int>()
                    val stubborn = ProxyAuthenticator { challenge ->
                        attempts += challenge.attempt
                        "Basic d3Jvbmc6d3Jvbmc="
                    }
                    val e = failure(ProxySettings.http(LOOPBACK, proxy.port, stubborn))
                        .shouldBeInstanceOf<ProxyAuthRequiredException>()
                    attempts shouldContainExactly (1..MAX_AUTH_ATTEMPTS).toList()
                    e.attempts shouldBe MAX_AUTH_ATTEMPTS
                    e.challenges shouldContainExactly listOf("Basic realm=\"fake\"")
                    proxy.accepted shouldBe MAX_AUTH_ATTEMPTS + 1
                }
            }
        }

        context("hostile proxies") {
            test("random bytes instead of HTTP fail at once with ProtocolException") {
                FakeProxy { _, socket ->
                    RawWebSocketServer.readRequestHead(socket.getInputStream())
                    socket.getOutputStream().write(ByteArray(4096).also { Random(11).nextBytes(it) })
                }.use { proxy ->
                    failure(ProxySettings.http(LOOPBACK, proxy.port)).shouldBeInstanceOf<ProtocolException>()
                        .message shouldContain "not HTTP"
                    links.maxRead() shouldBeLessThanOrEqual "HTTP/1.".length.toLong()
                }
            }

            test("headers that never end fail with ProtocolException after a bounded read") {
                FakeProxy { _, socket ->
                    RawWebSocketServer.readRequestHead(socket.getInputStream())
                    val out = socket.getOutputStream()
                    out.write("HTTP/1.1 200 OK\r\n".toByteArray())
                    // Writes until the client hangs up; the write then fails and ends this thread.
                    while (true) out.write("X-Padding: and more\r\n".toByteArray())
                }.use { proxy ->
                    failure(ProxySettings.http(LOOPBACK, proxy.port)).shouldBeInstanceOf<ProtocolException>()
                        .message shouldContain "header lines"
                    links.maxRead() shouldBeLessThanOrEqual MAX_PROXY_HEAD_BYTES.toLong()
                }
            }

            test("one header line that never ends fails with ProtocolException at $MAX_PROXY_HEAD_BYTES bytes") {
                FakeProxy { _, socket ->
                    RawWebSocketServer.readRequestHead(socket.getInputStream())
                    val out = socket.getOutputStream()
                    out.write("HTTP/1.1 200 OK\r\nX-Long: ".toByteArray())
                    val chunk = ByteArray(1024) { 'a'.code.toByte() }
                    while (true) out.write(chunk)
                }.use { proxy ->
                    failure(ProxySettings.http(LOOPBACK, proxy.port)).shouldBeInstanceOf<ProtocolException>()
                        .message shouldContain "$MAX_PROXY_HEAD_BYTES bytes"
                    links.maxRead() shouldBe MAX_PROXY_HEAD_BYTES.toLong() + 1
                }
            }

            test("a SOCKS5 proxy answering with another version fails with ProtocolException") {
                FakeProxy { _, socket ->
                    socket.getInputStream().read()
                    socket.getOutputStream().write(byteArrayOf(4, 0))
                }.use { proxy ->
                    failure(ProxySettings.socks5(LOOPBACK, proxy.port)).shouldBeInstanceOf<ProtocolException>()
                        .message shouldContain "not a SOCKS5 proxy"
                }
            }
        }

        context("settings") {
            test("toString never shows a password") {
                ProxySettings.socks5("p.test", 1080, "alice", "hunter2").toString() shouldNotContain "hunter2"
                ProxySettings.http(
                    "p.test",
                    3128,
                    ProxyAuthenticator.basic("alice", "hunter2"),
                ).toString() shouldNotContain
                    "hunter2"
            }

            test("an IPv6 proxy literal is accepted with or without brackets") {
                ProxySettings.Http("[::1]", 3128).host shouldBe "::1"
                ProxySettings.Http("::1", 3128).toString() shouldContain "[::1]:3128"
            }

            test("the SOCKS5 username is checked against RFC 1929's limits") {
                shouldThrow<IllegalArgumentException> { ProxySettings.socks5("p.test", 1080, "", "x") }
                shouldThrow<IllegalArgumentException> { ProxySettings.socks5("p.test", 1080, "a".repeat(256), "x") }
            }
        }
    })

private fun selector(select: (URI) -> List<Proxy>): ProxySelector = object : ProxySelector() {
    override fun select(uri: URI): List<Proxy> = select(uri)

    override fun connectFailed(uri: URI, sa: SocketAddress, ioe: IOException) = Unit
}

/** The links the spec's connect function opened, to close them and to check none was left open. */
private class Links {
    private val all = CopyOnWriteArrayList<ChannelLink>()

    suspend fun connect(address: InetSocketAddress): ByteLink = runInterruptible(Dispatchers.IO) {
        ChannelLink(SocketChannel.open(InetSocketAddress(address.hostString, address.port))).also { all += it }
    }

    fun count(): Int = all.size

    /** The links opened after the first [count] that are still open. */
    fun openSince(count: Int): List<ChannelLink> = all.drop(count).filter { it.channel.isOpen }

    /** The most bytes read from any one link. */
    fun maxRead(): Long = all.maxOf { it.bytesRead }

    fun closeAll() {
        all.forEach { it.close() }
        all.clear()
    }
}

/** A ByteLink over a blocking SocketChannel; each call runs on Dispatchers.IO and is interrupted if cancelled. */
private class ChannelLink(val channel: SocketChannel) : ByteLink {
    @Volatile
    var bytesRead = 0L

    override suspend fun read(dst: ByteBuffer): Int =
        runInterruptible(Dispatchers.IO) { channel.read(dst) }.also { if (it > 0) bytesRead += it }

    override suspend fun write(src: ByteBuffer) {
        runInterruptible(Dispatchers.IO) { while (src.hasRemaining()) channel.write(src) }
    }

    override fun close() {
        runCatching { channel.close() }
    }
}

private suspend fun ByteLink.readString(count: Int): String = withTimeout(10.seconds) {
    val buffer = ByteBuffer.allocate(count)
    while (buffer.hasRemaining()) check(read(buffer) >= 0) { "end of stream after ${buffer.position()} bytes" }
    String(buffer.array(), Charsets.UTF_8)
}

private suspend fun ByteLink.roundTrip(text: String): String {
    write(ByteBuffer.wrap(text.toByteArray()))
    return readString(text.toByteArray().size)
}

/** A raw TCP "proxy" that runs [script] on its own thread for each connection (numbered from 0), then closes it. */
private class FakeProxy(private val script: (Int, Socket) -> Unit) : AcceptingServer("fake-proxy") {
    private var count = 0

    override fun onAccept(socket: Socket) {
        val index = count++
        thread(isDaemon = true, name = "fake-proxy-conn-$index") {
            try {
                script(index, socket)
                socket.getOutputStream().flush()
                // Holds the connection open until the client closes it, so that the client, not a close from here,
                // decides what the rest of the stream is.
                while (socket.getInputStream().read() >= 0) Unit
            } catch (_: IOException) {
                // The client hung up: the script's work is over.
            } finally {
                drop(socket)
            }
        }
    }
}
