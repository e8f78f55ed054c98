package dev.parley.java

import dev.parley.Frame
import dev.parley.testing.suite.ClientBehaviourSuite
import dev.parley.testing.suite.ClientPath
import dev.parley.testing.suite.Ending
import dev.parley.testing.suite.Observed
import dev.parley.testing.suite.SuiteClient
import dev.parley.testing.suite.SuiteSettings
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.future.await
import kotlinx.coroutines.withTimeout
import java.net.URI
import java.nio.ByteBuffer
import kotlin.time.Duration.Companion.seconds
import kotlin.time.toJavaDuration

/** The behaviour suite through the Java facade: its builder, its listener and its futures, on Parley's transport. */
class JavaFacadeBehaviourSpec : ClientBehaviourSuite(JavaFacadePath)

private object JavaFacadePath : ClientPath {
    override val name = "Java facade, Parley's transport, ws://"

    override fun start(url: String, settings: SuiteSettings): SuiteClient {
        val observed = Channel<Observed>(Channel.UNLIMITED)
        lateinit var socket: ParleyWebSocket
        val listener = object : ParleyListener {
            override fun onConnect(reply: Reply) {
                observed.trySend(Observed.Connected(socket.state().responseHeaders()))
            }

            override fun onText(reply: Reply, text: String) {
                observed.trySend(Observed.Message(Frame.Text(text)))
            }

            override fun onBinary(reply: Reply, data: ByteBuffer) {
                observed.trySend(Observed.Message(Frame.Binary(ByteArray(data.remaining()).also { data.get(it) })))
            }

            override fun onPing(reply: Reply, payload: ByteBuffer) {
                observed.trySend(Observed.Ping(Charsets.UTF_8.decode(payload).toString()))
            }

            override fun onDisconnect(reason: DisconnectInfo): ReconnectDecision {
                observed.trySend(ended(reason))
                return super.onDisconnect(reason)
            }
        }
        val builder = ParleyWebSocket.builder(URI(url)).listener(listener).noReconnect()
        settings.heartbeat?.let { (interval, timeout) ->
            builder.heartbeat(interval.toJavaDuration(), timeout.toJavaDuration())
        }
        settings.maxFrameSize?.let { builder.maxFrameSize(it) }
        if (!settings.compression) builder.noCompression()
        socket = builder.build()
        socket.connect()
        return object : SuiteClient {
            override val observed = observed

            override suspend fun send(frame: Frame) {
                when (frame) {
                    is Frame.Text -> socket.sendText(frame.text).await()
                    is Frame.Binary -> socket.sendBinary(frame.bytes).await()
                    else -> error("the suite sends text and binary only, not $frame")
                }
            }

            override suspend fun disconnect() {
                socket.disconnect().await()
            }

            override suspend fun stop() {
                withTimeout(10.seconds) { socket.stop().await() }
            }
        }
    }

    private fun ended(info: DisconnectInfo): Observed.Ended = when (info.kind()) {
        DisconnectInfo.Kind.CLOSED_BY_PEER -> Observed.Ended(Ending.CLOSED_BY_PEER, info.closeCode())
        DisconnectInfo.Kind.CLOSED_LOCALLY -> Observed.Ended(Ending.CLOSED_LOCALLY)
        DisconnectInfo.Kind.TRANSPORT_FAILED -> Observed.Ended(Ending.TRANSPORT_FAILED)
        DisconnectInfo.Kind.HEARTBEAT_TIMEOUT -> Observed.Ended(Ending.HEARTBEAT_TIMEOUT)
        DisconnectInfo.Kind.HANDSHAKE_REJECTED -> Observed.Ended(Ending.HANDSHAKE_REJECTED, status = info.httpStatus())
        DisconnectInfo.Kind.PROTOCOL_VIOLATION -> Observed.Ended(Ending.PROTOCOL_VIOLATION, info.closeCode())
        DisconnectInfo.Kind.MESSAGE_TOO_BIG -> Observed.Ended(Ending.MESSAGE_TOO_BIG, 1009)
        else -> Observed.Ended(Ending.OTHER)
    }
}
