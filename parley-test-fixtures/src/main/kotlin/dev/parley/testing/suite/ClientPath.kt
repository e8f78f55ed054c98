package dev.parley.testing.suite

import dev.parley.ConnectionState
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HeartbeatPolicy
import dev.parley.Parley
import dev.parley.ParleyClient
import dev.parley.ParleyOptions
import dev.parley.TlsSettings
import dev.parley.parleyOptions
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.testing.LOOPBACK
import dev.parley.testing.NginxTls
import dev.parley.testing.TestPki
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.ReceiveChannel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.util.concurrent.ConcurrentHashMap
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * One way of using Parley that [ClientBehaviourSuite] runs its scenarios over: an API (Kotlin or the Java facade) and
 * a transport (Parley's own, ws or wss; a Ktor `HttpClient`).
 */
interface ClientPath : AutoCloseable {
    /** For test names. */
    val name: String

    /**
     * Whether a masked frame from the server is refused (RFC 6455 §5.1). Parley's own codec refuses it; Ktor's
     * session unmasks it without telling, so through a Ktor `HttpClient` it is delivered.
     */
    val refusesMaskedFrames: Boolean get() = true

    /** The URL that reaches the plain `ws://` server on 127.0.0.1:[port] at [path]; a wss path puts TLS in front. */
    fun url(port: Int, path: String): String = "ws://$LOOPBACK:$port$path"

    /** Starts a client of [url]; it connects at once and reconnects never. */
    fun start(url: String, settings: SuiteSettings = SuiteSettings()): SuiteClient

    override fun close() = Unit
}

/** What a scenario may ask of the client it starts. */
data class SuiteSettings(
    /** Ping interval and pong timeout, or none. */
    val heartbeat: Pair<Duration, Duration>? = null,
    /** The largest message accepted, or the default. */
    val maxFrameSize: Long? = null,
    /** Whether permessage-deflate is offered (the default). */
    val compression: Boolean = true,
)

/** What a scenario sees of a client, whatever its API. */
sealed class Observed {
    /** Connected; the upgrade response's headers (lower-case names). */
    data class Connected(val headers: Map<String, List<String>>) : Observed()

    /** A message. */
    data class Message(val frame: Frame) : Observed()

    /** A ping from the server, its payload as text. */
    data class Ping(val payload: String) : Observed()

    /** The connection ended: how, the close code where there is one, the HTTP status of a rejection. */
    data class Ended(val how: Ending, val closeCode: Int? = null, val status: Int? = null) : Observed()
}

/** How a connection ended, in words both APIs have. */
enum class Ending {
    CLOSED_BY_PEER,
    CLOSED_LOCALLY,
    TRANSPORT_FAILED,
    HEARTBEAT_TIMEOUT,
    HANDSHAKE_REJECTED,
    PROTOCOL_VIOLATION,
    MESSAGE_TOO_BIG,
    OTHER,
}

/** A started client, as a scenario drives it. */
interface SuiteClient {
    /** What the client saw, in order. */
    val observed: ReceiveChannel<Observed>

    /** Sends [frame]; returns once it was written. */
    suspend fun send(frame: Frame)

    /** Closes the connection politely (1000) and stays stopped. */
    suspend fun disconnect()

    /** Stops the client and releases everything it holds. */
    suspend fun stop()
}

/** The next observation, which must be a [T]. */
suspend inline fun <reified T : Observed> SuiteClient.expect(timeout: Duration = 5.seconds): T {
    val next = withTimeoutOrNull(timeout) { observed.receive() } ?: error("nothing observed within $timeout")
    return next as? T ?: error("expected ${T::class.simpleName} but saw $next")
}

/** Skips observations until one of type [T]. */
suspend inline fun <reified T : Observed> SuiteClient.await(timeout: Duration = 5.seconds): T = withTimeout(timeout) {
    var next = observed.receive()
    while (next !is T) next = observed.receive()
    next
}

/**
 * The Kotlin API ([Parley.start]) with [options] applied on top of the suite's settings: Parley's own transport by
 * default, a transport module's with its option (e.g. `httpClient(...)`).
 */
open class KotlinApiPath(
    override val name: String,
    override val refusesMaskedFrames: Boolean = true,
    private val options: ParleyOptions.Builder.() -> Unit = {},
) : ClientPath {
    override fun start(url: String, settings: SuiteSettings): SuiteClient {
        val handler = RecordingHandler<Unit>()
        val client = Parley.start(
            handler,
            Unit,
            parleyOptions {
                this.url = url
                reconnect = null
                settings.heartbeat?.let { (interval, timeout) -> heartbeat = HeartbeatPolicy(interval, timeout) }
                settings.maxFrameSize?.let { maxFrameSize = it }
                if (!settings.compression) compression = null
                options()
            },
        )
        return KotlinSuiteClient(client, handler)
    }
}

/** Parley's own transport over `wss://`: nginx terminates TLS (TestPki's certificate) in front of each server. */
class TlsFrontedPath(
    name: String,
    options: ParleyOptions.Builder.() -> Unit = {},
) : KotlinApiPath(name, options = {
    tls = TlsSettings(trustManager = TestPki.trustManager)
    options()
}) {
    private val fronts = ConcurrentHashMap<Int, NginxTls>()

    override fun url(port: Int, path: String): String =
        fronts.computeIfAbsent(port) { NginxTls(it) }.uri(path).toString()

    override fun close() {
        fronts.values.forEach { it.close() }
        fronts.clear()
    }
}

private class KotlinSuiteClient(private val client: ParleyClient, handler: RecordingHandler<Unit>) : SuiteClient {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    override val observed = Channel<Observed>(Channel.UNLIMITED)

    init {
        scope.launch {
            while (true) {
                val seen = handler.next(Duration.INFINITE)
                observed.send(
                    when (seen) {
                        is Seen.Connected ->
                            Observed.Connected(
                                (client.state.value as? ConnectionState.Connected)?.responseHeaders.orEmpty(),
                            )

                        is Seen.Received -> Observed.Message(seen.frame)

                        is Seen.Pinged -> Observed.Ping(seen.payload)

                        is Seen.Disconnected -> ended(seen.reason)

                        else -> continue
                    },
                )
            }
        }
    }

    override suspend fun send(frame: Frame) = client.send(frame)

    override suspend fun disconnect() {
        client.disconnect()
    }

    override suspend fun stop() {
        try {
            withTimeout(10.seconds) { client.stop() }
        } finally {
            scope.cancel()
        }
    }

    private fun ended(reason: DisconnectReason): Observed.Ended = when (reason) {
        is DisconnectReason.ClosedByPeer -> Observed.Ended(Ending.CLOSED_BY_PEER, reason.code)
        is DisconnectReason.ClosedLocally -> Observed.Ended(Ending.CLOSED_LOCALLY)
        is DisconnectReason.TransportFailed -> Observed.Ended(Ending.TRANSPORT_FAILED)
        is DisconnectReason.HeartbeatTimedOut -> Observed.Ended(Ending.HEARTBEAT_TIMEOUT)
        is DisconnectReason.HandshakeRejected -> Observed.Ended(Ending.HANDSHAKE_REJECTED, status = reason.status)
        is DisconnectReason.ProtocolViolation -> Observed.Ended(Ending.PROTOCOL_VIOLATION, reason.closeCode)
        is DisconnectReason.MessageTooBig -> Observed.Ended(Ending.MESSAGE_TOO_BIG, 1009)
        else -> Observed.Ended(Ending.OTHER)
    }
}
