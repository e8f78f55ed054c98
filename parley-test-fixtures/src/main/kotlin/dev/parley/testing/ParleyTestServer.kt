package dev.parley.testing

import java.net.BindException
import java.util.concurrent.Executors
import java.util.concurrent.ScheduledExecutorService
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource

/**
 * A real WebSocket server on 127.0.0.1 that Parley's client is tested against.
 *
 * Two independent implementations exist ([KtorTestServer], [JettyTestServer]) so that a client behaviour that only
 * works against one server stack is caught. Both serve the same routes:
 *
 * - `/ws`: echoes text and binary messages; the text commands in [ServerCommand] script server behaviour
 *   (commands are not echoed).
 * - `/ws/auth`: upgrades only with `Authorization: Bearer <anything>`, otherwise HTTP 401 + `WWW-Authenticate: Bearer`.
 * - `/reject`: always HTTP 403, never upgrades.
 * - `/ws/flap`: accepts the upgrade, then drops TCP at once without a close frame.
 * - Any upgrade that offers the `chat` subprotocol gets `chat` selected.
 *
 * Lifecycle: the first [start] binds an ephemeral port; [stop] stops the server; a later [start] binds the SAME port
 * again (for reconnect tests); [close] stops for good. Recordings ([closeFrames], [pongs], [upgradeRequests],
 * [acceptedConnections]) belong to the instance and survive restarts.
 */
interface ParleyTestServer : AutoCloseable {
    /** The bound port; fixed by the first [start], reused by every later one. Throws before the first start. */
    val port: Int

    /** Whether the server is currently accepting connections. */
    val isRunning: Boolean

    /** Close frames received from clients, as (code, reason); 1005 when the frame carried no code. */
    val closeFrames: Recording<CloseFrameRecord>

    /** Payloads of pong frames received from clients. */
    val pongs: Recording<ByteArray>

    /** One entry per HTTP request that reached the server (upgrades and rejected attempts alike). */
    val upgradeRequests: Recording<UpgradeRequestRecord>

    /** One entry per completed WebSocket upgrade (the request path), i.e. per accepted connection. */
    val acceptedConnections: Recording<String>

    /** `ws://` or `wss://` URL of [path] on this server. */
    fun url(path: String = "/ws"): String

    /** Starts (or restarts on the same port) the server. Returns this for chaining; no-op when running. */
    fun start(): ParleyTestServer

    /** Stops the server; what open sessions see is implementation specific (see each class). */
    fun stop()

    /** Stops the server for good. */
    override fun close()
}

/** A close frame received by a test server. */
data class CloseFrameRecord(val code: Int, val reason: String)

/** The path and headers (names lower-cased) of one HTTP request received by a test server. */
data class UpgradeRequestRecord(val path: String, val headers: Map<String, List<String>>) {
    /** First value of header [name] (case-insensitive), or null. */
    fun header(name: String): String? = headers[name.lowercase()]?.firstOrNull()
}

/**
 * Text commands understood by `/ws` on both real servers. Parsed once here so that Ktor and Jetty cannot drift apart.
 */
sealed interface ServerCommand {
    /** `close` or `close:<code>:<reason>`: the server starts the close handshake. */
    data class Close(val code: Int, val reason: String) : ServerCommand

    /** `crash`: abrupt TCP drop, no close frame. */
    data object Crash : ServerCommand

    /** `send_and_crash`: send text `push_this`, then drop TCP abruptly about 10 ms later. */
    data object SendAndCrash : ServerCommand

    /** `send_ping` / `send_ping:<payload>`: the server sends a ping. */
    data class SendPing(val payload: ByteArray) : ServerCommand

    /** `send_big:<n>`: the server sends one text message of n 'x' characters. */
    data class SendBig(val size: Int) : ServerCommand

    /** `ignore_close`: from now on a client close frame is neither answered nor followed by a TCP close. */
    data object IgnoreClose : ServerCommand

    companion object {
        /** Text message the server pushes before `send_and_crash` drops the connection. */
        const val PUSHED_TEXT: String = "push_this"

        /** Delay between the pushed text and the drop in `send_and_crash`. */
        const val CRASH_DELAY_MILLIS: Long = 10

        /** Parses [text], or returns null when it is an ordinary message to echo. */
        fun parse(text: String): ServerCommand? = when {
            text == "close" -> Close(1000, "normal closure")
            text.startsWith("close:") -> text.split(':', limit = 3).let { Close(it[1].toInt(), it.getOrElse(2) { "" }) }
            text == "crash" -> Crash
            text == "send_and_crash" -> SendAndCrash
            text == "send_ping" -> SendPing("ping".encodeToByteArray())
            text.startsWith("send_ping:") -> SendPing(text.removePrefix("send_ping:").encodeToByteArray())
            text.startsWith("send_big:") -> SendBig(text.removePrefix("send_big:").toInt())
            text == "ignore_close" -> IgnoreClose
            else -> null
        }
    }
}

/** Subprotocol that every real test server selects when the client offers it. */
const val CHAT_SUBPROTOCOL: String = "chat"

/** True when the `Authorization` header value is a Bearer token, as `/ws/auth` demands. */
internal fun isBearer(authorization: String?): Boolean =
    authorization != null && authorization.startsWith("Bearer ") && authorization.length > "Bearer ".length

/**
 * Runs [bind] until it stops failing with "address in use", for at most [within].
 *
 * Why: a restart binds the port the previous run used. SO_REUSEADDR makes TIME_WAIT harmless on Linux, but a server
 * whose acceptor is still winding down can hold the port for a few milliseconds. The short pause between attempts is a
 * bounded retry back-off, not a synchronisation point of any test.
 */
internal fun <T> retryBind(within: Duration = 5.seconds, bind: () -> T): T {
    val deadline = TimeSource.Monotonic.markNow() + within
    while (true) {
        try {
            return bind()
        } catch (e: Exception) {
            // Ktor reports the BindException wrapped; Jetty throws an IOException whose cause is the BindException.
            val inUse = generateSequence<Throwable>(e) { it.cause }.any { it is BindException }
            if (!inUse || deadline.hasPassedNow()) throw e
            Thread.sleep(BIND_RETRY_PAUSE_MILLIS)
        }
    }
}

private const val BIND_RETRY_PAUSE_MILLIS = 25L

/**
 * Daemon scheduler for server-side scripted delays (e.g. `send_and_crash`, [GarbageHttpServer]'s late close).
 * Why: such a delay is part of the simulated server's behaviour; scheduling it keeps threads free and never blocks
 * the JVM from exiting.
 */
internal val testScheduler: ScheduledExecutorService = Executors.newSingleThreadScheduledExecutor { task ->
    Thread(task, "parley-test-scheduler").apply { isDaemon = true }
}
