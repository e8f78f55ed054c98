package dev.parley.testkit

import java.time.Duration
import java.util.Collections

/**
 * How a [WebSocketTestServer] answers an upgrade request: [accept] it (at once or after a [delay]), [stall] (read the
 * request and never answer), or [reject] it with an HTTP status. Immutable; [withHeader] and [withAcceptKey] return
 * changed copies.
 *
 * Set the default with [WebSocketTestServer.Builder.upgrade] or [WebSocketTestServer.setUpgrade]; queue one-off
 * answers for the next requests with [WebSocketTestServer.enqueueUpgrade].
 */
public class UpgradeBehavior private constructor(
    private val mode: Mode,
    private val delay: Duration,
    private val status: Int,
    private val body: String,
    private val headers: List<Pair<String, String>>,
    private val acceptKey: String?,
) {
    internal enum class Mode { ACCEPT, STALL, REJECT }

    internal fun mode(): Mode = mode

    internal fun delay(): Duration = delay

    internal fun status(): Int = status

    internal fun body(): String = body

    internal fun headers(): List<Pair<String, String>> = headers

    internal fun acceptKey(): String? = acceptKey

    /**
     * A copy that adds the response header `name: value` (to the 101, or to the rejection). Headers are sent in the
     * order added, after the ones the server writes itself.
     */
    public fun withHeader(name: String, value: String): UpgradeBehavior {
        require(name.isNotBlank() && name.none { it == ':' || it == '\r' || it == '\n' }) { "bad header name: $name" }
        require(value.none { it == '\r' || it == '\n' }) { "header value with a line break" }
        return UpgradeBehavior(mode, delay, status, body, headers + (name to value), acceptKey)
    }

    /**
     * A copy whose 101 carries [value] as `Sec-WebSocket-Accept` instead of the correct one: a handshake fault for
     * the client to detect.
     */
    public fun withAcceptKey(value: String): UpgradeBehavior =
        UpgradeBehavior(mode, delay, status, body, headers, value)

    /** What the behaviour is, e.g. `reject(503)`. */
    override fun toString(): String = when (mode) {
        Mode.ACCEPT -> if (delay.isZero) "accept()" else "delay($delay)"
        Mode.STALL -> "stall()"
        Mode.REJECT -> "reject($status)"
    } + (if (headers.isEmpty()) "" else ".withHeaders(${headers.map { it.first }})")

    /** Factories. */
    public companion object {
        private val NONE: List<Pair<String, String>> = Collections.emptyList()

        /** Answer with 101 Switching Protocols at once (the default). */
        @JvmStatic
        public fun accept(): UpgradeBehavior = UpgradeBehavior(Mode.ACCEPT, Duration.ZERO, 101, "", NONE, null)

        /** Answer with 101 after [delay] (measured from the end of the request; closing the server cuts it short). */
        @JvmStatic
        public fun delay(delay: Duration): UpgradeBehavior {
            require(!delay.isNegative) { "negative delay: $delay" }
            return UpgradeBehavior(Mode.ACCEPT, delay, 101, "", NONE, null)
        }

        /** Read the request and never answer it; the connection stays open until the server is closed or reset. */
        @JvmStatic
        public fun stall(): UpgradeBehavior = UpgradeBehavior(Mode.STALL, Duration.ZERO, 0, "", NONE, null)

        /** Answer with HTTP [status] (not 101) and [body] (UTF-8, may be empty), then close the connection. */
        @JvmStatic
        @JvmOverloads
        public fun reject(status: Int, body: String = ""): UpgradeBehavior {
            require(status in 100..999 && status != 101) { "not a rejection status: $status" }
            return UpgradeBehavior(Mode.REJECT, Duration.ZERO, status, body, NONE, null)
        }
    }
}
