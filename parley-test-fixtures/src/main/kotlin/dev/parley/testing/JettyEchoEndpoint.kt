package dev.parley.testing

import org.eclipse.jetty.websocket.api.Callback
import org.eclipse.jetty.websocket.api.Session
import org.eclipse.jetty.websocket.api.StatusCode
import java.nio.ByteBuffer
import java.util.concurrent.TimeUnit.MILLISECONDS

/**
 * The `/ws` (and `/ws/auth`, `/ws/flap`) endpoint of [JettyTestServer], one instance per connection.
 *
 * `onWebSocketPing` is deliberately NOT overridden: Jetty then answers pings itself. `onWebSocketPong` is, so pongs
 * are recorded. The close callback is what makes `ignore_close` possible: Jetty sends its close reply only when the
 * callback of `onWebSocketClose` completes, so holding it back leaves the client's close unanswered and TCP open.
 *
 * @param flap when true the connection is dropped abruptly (no close frame) right after the upgrade.
 */
internal class JettyEchoEndpoint(
    private val server: ParleyTestServer,
    private val path: String,
    private val flap: Boolean,
) : Session.Listener.AbstractAutoDemanding() {
    @Volatile
    private var ignoreClose = false

    override fun onWebSocketOpen(session: Session) {
        super.onWebSocketOpen(session)
        server.acceptedConnections.record(path)
        if (flap) session.disconnect()
    }

    override fun onWebSocketText(message: String) {
        val session = session
        when (val command = ServerCommand.parse(message)) {
            null -> session.sendText(message, Callback.NOOP)

            is ServerCommand.Close -> session.close(command.code, command.reason, Callback.NOOP)

            // disconnect() is Jetty's "harsh" close: TCP goes away without a close frame.
            ServerCommand.Crash -> session.disconnect()

            ServerCommand.SendAndCrash -> session.sendText(
                ServerCommand.PUSHED_TEXT,
                Callback.from(
                    { testScheduler.schedule(session::disconnect, ServerCommand.CRASH_DELAY_MILLIS, MILLISECONDS) },
                    { session.disconnect() },
                ),
            )

            is ServerCommand.SendPing -> session.sendPing(ByteBuffer.wrap(command.payload), Callback.NOOP)

            is ServerCommand.SendBig -> session.sendText("x".repeat(command.size), Callback.NOOP)

            ServerCommand.IgnoreClose -> ignoreClose = true
        }
    }

    override fun onWebSocketBinary(payload: ByteBuffer, callback: Callback) {
        // Copy before completing the callback: Jetty reuses the buffer afterwards.
        val copy = ByteBuffer.allocate(payload.remaining()).put(payload).flip()
        callback.succeed()
        session.sendBinary(copy, Callback.NOOP)
    }

    override fun onWebSocketPong(payload: ByteBuffer) {
        server.pongs.record(ByteArray(payload.remaining()).also { payload.get(it) })
    }

    override fun onWebSocketError(cause: Throwable) {
        // Clients that abort (the JDK client's close(), crash tests) are routine here: not worth Jetty's WARN log.
    }

    override fun onWebSocketClose(statusCode: Int, reason: String?, callback: Callback) {
        // Jetty also calls this when TCP ends without a close frame, then with 1006, a code no peer may send:
        // only other codes are close frames that really arrived.
        if (statusCode != StatusCode.ABNORMAL) server.closeFrames.record(CloseFrameRecord(statusCode, reason ?: ""))
        // ignore_close: never completing the callback means Jetty never sends its close reply.
        if (!ignoreClose) callback.succeed()
    }
}
