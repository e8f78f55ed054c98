package dev.parley.bench

import io.netty.bootstrap.ServerBootstrap
import io.netty.channel.Channel
import io.netty.channel.ChannelHandlerContext
import io.netty.channel.ChannelInboundHandlerAdapter
import io.netty.channel.ChannelInitializer
import io.netty.channel.ChannelOption
import io.netty.channel.MultiThreadIoEventLoopGroup
import io.netty.channel.SimpleChannelInboundHandler
import io.netty.channel.nio.NioIoHandler
import io.netty.channel.socket.SocketChannel
import io.netty.channel.socket.nio.NioServerSocketChannel
import io.netty.handler.codec.http.FullHttpRequest
import io.netty.handler.codec.http.HttpObjectAggregator
import io.netty.handler.codec.http.HttpServerCodec
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame
import io.netty.handler.codec.http.websocketx.ContinuationWebSocketFrame
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame
import io.netty.handler.codec.http.websocketx.WebSocketFrame
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler
import io.netty.handler.codec.http.websocketx.extensions.compression.WebSocketServerCompressionHandler
import io.netty.handler.ssl.SslContext
import io.netty.handler.ssl.SslContextBuilder
import io.netty.handler.ssl.SslProvider
import java.io.File
import java.net.InetSocketAddress
import java.net.URI
import java.net.http.HttpClient
import java.net.http.WebSocket
import java.nio.ByteBuffer
import java.util.concurrent.CompletionStage
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import javax.net.ssl.KeyManagerFactory

/**
 * The echo server every client talks to, in its own JVM: Netty 4.2, `ws://127.0.0.1:<port>/echo`, echoes text and
 * binary frames as they come (fragments too), 1 MiB frame limit, no extensions (so no permessage-deflate for anyone).
 * `/echo-deflate` is the same echo with permessage-deflate for clients that offer it (Netty's compression handler,
 * its defaults: level 6, context kept both ways), for the JSON workloads' compressed column.
 *
 * Usage: `EchoServer <port> [warmupMillis [keystore.p12 tls13Port tls12Port]]`. With a keystore it also serves
 * `wss://127.0.0.1:<tls13Port>/echo`, restricted to TLS 1.3, and `wss://127.0.0.1:<tls12Port>/echo`, restricted to
 * TLS 1.2 (Netty's SslHandler with the JDK provider, the same one most clients use). Each TLS port allows one cipher
 * suite, AES-128-GCM, so that every client that connects pays for the same cipher (otherwise each would get its own
 * preference: AES-256 for some, ChaCha20 for others, and the comparison would be of ciphers, not clients).
 *
 * It first warms itself up on throwaway ports (handshakes and echoes from the JDK's client, over ws and each wss, so a
 * freshly started server is not slow for whoever connects first), then binds the ports and prints
 * `LISTENING <port> <epoch µs>` — the reconnect workload measures from that instant.
 */
object EchoServer {
    private const val PATH = "/echo"
    private const val DEFLATE_PATH = "/echo-deflate"
    private const val MAX_FRAME = 1 shl 20

    /** The one cipher suite allowed per protocol; all clients measured support both (ktor-network-tls included). */
    private val CIPHERS =
        mapOf("TLSv1.3" to "TLS_AES_128_GCM_SHA256", "TLSv1.2" to "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")

    @JvmStatic
    fun main(args: Array<String>) {
        val port = args[0].toInt()
        val warmupMillis = args.getOrNull(1)?.toLong() ?: 0L
        val keyStore = args.getOrNull(2)?.let(::File)
        val tlsPorts = args.drop(3).map { it.toInt() }
        val boss = MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory())
        val workers = MultiThreadIoEventLoopGroup(NioIoHandler.newFactory())
        fun bootstrap(ssl: SslContext?) = ServerBootstrap()
            .group(boss, workers)
            .channel(NioServerSocketChannel::class.java)
            .option(ChannelOption.SO_BACKLOG, 4096)
            .option(ChannelOption.SO_REUSEADDR, true)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childHandler(Initializer(ssl))
        // (bootstrap, port to bind, scheme) for ws and, with a keystore, each TLS protocol.
        val endpoints =
            listOf(Triple(bootstrap(null), port, "ws")) +
                if (keyStore == null) {
                    emptyList()
                } else {
                    TlsCert.PROTOCOLS.zip(tlsPorts).map { (protocol, p) ->
                        Triple(bootstrap(sslContext(keyStore, protocol)), p, "wss")
                    }
                }
        if (warmupMillis > 0) {
            val scratch = endpoints.map { (b, _, scheme) -> scheme to b.bind("127.0.0.1", 0).sync().channel() }
            val uris =
                scratch.map { (scheme, ch) ->
                    URI("$scheme://127.0.0.1:${(ch.localAddress() as InetSocketAddress).port}$PATH")
                }
            warmUp(uris, keyStore, warmupMillis)
            scratch.forEach { it.second.close().sync() }
        }
        val channels: List<Channel> = endpoints.map { (b, p, _) -> b.bind("127.0.0.1", p).sync().channel() }
        println("LISTENING $port ${epochMicros()}")
        System.out.flush()
        channels.forEach { it.closeFuture().sync() }
    }

    private fun sslContext(keyStore: File, protocol: String): SslContext {
        val keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm()).apply {
            init(TlsCert.keyStore(keyStore), TlsCert.PASSWORD.toCharArray())
        }
        return SslContextBuilder
            .forServer(keys)
            .sslProvider(SslProvider.JDK)
            .protocols(protocol)
            .ciphers(listOf(CIPHERS.getValue(protocol)))
            .build()
    }

    private class Initializer(
        private val ssl: SslContext?,
    ) : ChannelInitializer<SocketChannel>() {
        private val config =
            WebSocketServerProtocolConfig
                .newBuilder()
                .websocketPath(PATH)
                .maxFramePayloadLength(MAX_FRAME)
                .allowExtensions(false)
                .build()

        private val deflateConfig = config.toBuilder().allowExtensions(true).build()

        override fun initChannel(ch: SocketChannel) {
            if (ssl != null) ch.pipeline().addLast(ssl.newHandler(ch.alloc()))
            ch
                .pipeline()
                .addLast(HttpServerCodec())
                .addLast(HttpObjectAggregator(65_536))
                .addLast(Route(config, deflateConfig))
                .addLast(EchoHandler())
        }

        override fun isSharable() = true
    }

    /**
     * Looks at the upgrade request and puts the WebSocket handlers behind itself: for [DEFLATE_PATH] Netty's
     * compression handler and a protocol handler that allows extensions (the request goes on as `/echo`), for any
     * other path the plain protocol handler; then it leaves the pipeline. The protocol handler puts its handshake
     * handler in front of itself, so the compression handler is added last, to come first.
     */
    private class Route(
        private val config: WebSocketServerProtocolConfig,
        private val deflateConfig: WebSocketServerProtocolConfig,
    ) : ChannelInboundHandlerAdapter() {
        override fun channelRead(ctx: ChannelHandlerContext, msg: Any) {
            val pipeline = ctx.pipeline()
            val deflate = msg is FullHttpRequest && msg.uri() == DEFLATE_PATH
            if (deflate) (msg as FullHttpRequest).setUri(PATH)
            pipeline.addAfter(
                ctx.name(),
                "websocket",
                WebSocketServerProtocolHandler(if (deflate) deflateConfig else config),
            )
            if (deflate) pipeline.addAfter(ctx.name(), "deflate", WebSocketServerCompressionHandler(MAX_FRAME))
            pipeline.remove(this)
            ctx.fireChannelRead(msg)
        }
    }

    /** Writes each data frame back as it came; flushes once per read batch, not per frame. */
    private class EchoHandler : SimpleChannelInboundHandler<WebSocketFrame>(false) {
        override fun channelRead0(ctx: ChannelHandlerContext, frame: WebSocketFrame) {
            when (frame) {
                is TextWebSocketFrame, is BinaryWebSocketFrame, is ContinuationWebSocketFrame -> ctx.write(frame)
                else -> frame.release()
            }
        }

        override fun channelReadComplete(ctx: ChannelHandlerContext) {
            ctx.flush()
        }

        @Deprecated("Deprecated in Java")
        override fun exceptionCaught(ctx: ChannelHandlerContext, cause: Throwable) {
            ctx.close()
        }
    }

    /** Handshakes and echoes against ourselves until [millis] have passed, so the JIT has seen the hot paths. */
    private fun warmUp(uris: List<URI>, keyStore: File?, millis: Long) {
        val http =
            if (keyStore == null) {
                HttpClient.newHttpClient()
            } else {
                HttpClient.newBuilder().sslContext(BenchTls.trusting(keyStore).sslContext).build()
            }
        val text = "w".repeat(64)
        val binary = ByteBuffer.allocate(16 * 1024)
        val deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis)
        do {
            val echoes = LinkedBlockingQueue<Unit>()
            val listener =
                object : WebSocket.Listener {
                    override fun onText(ws: WebSocket, data: CharSequence, last: Boolean): CompletionStage<*>? {
                        if (last) echoes.add(Unit)
                        ws.request(1)
                        return null
                    }

                    override fun onBinary(ws: WebSocket, data: ByteBuffer, last: Boolean): CompletionStage<*>? {
                        if (last) echoes.add(Unit)
                        ws.request(1)
                        return null
                    }
                }
            for (uri in uris) {
                val ws = http.newWebSocketBuilder().buildAsync(uri, listener).get(5, TimeUnit.SECONDS)
                repeat(100) { ws.sendText(text, true).get(5, TimeUnit.SECONDS) }
                repeat(10) { ws.sendBinary(binary.duplicate(), true).get(5, TimeUnit.SECONDS) }
                repeat(110) { checkNotNull(echoes.poll(5, TimeUnit.SECONDS)) { "warm-up echo missing" } }
                ws.sendClose(WebSocket.NORMAL_CLOSURE, "").get(5, TimeUnit.SECONDS)
            }
        } while (System.nanoTime() < deadline)
    }
}

/** Wall-clock time in microseconds: comparable between processes on one machine, unlike System.nanoTime. */
fun epochMicros(): Long {
    val now = java.time.Instant.now()
    return now.epochSecond * 1_000_000 + now.nano / 1_000
}
