package dev.parley.testkit

import java.util.Collections

/**
 * The HTTP request a client sent to open a WebSocket connection, as the server read it.
 *
 * Header names are compared case-insensitively; [headers] holds them lower-cased, each with its values in order.
 */
public class UpgradeRequest internal constructor(
    private val requestLine: String,
    headerLines: List<Pair<String, String>>,
) {
    private val headers: Map<String, List<String>> = Collections.unmodifiableMap(
        headerLines.groupBy({ it.first }, { it.second }).mapValues { Collections.unmodifiableList(it.value) },
    )

    /** The request line as sent, e.g. `GET /chat?room=1 HTTP/1.1`. */
    public fun requestLine(): String = requestLine

    /** The request method, e.g. `GET`. */
    public fun method(): String = requestLine.substringBefore(' ')

    /** The request target: path and query, e.g. `/chat?room=1`. */
    public fun target(): String = requestLine.substringAfter(' ', "").substringBefore(' ')

    /** The path of the request target, without its query, e.g. `/chat`. */
    public fun path(): String = target().substringBefore('?')

    /** The query of the request target without the `?`, or `null` when there is none. */
    public fun query(): String? = target().let { if ('?' in it) it.substringAfter('?') else null }

    /** The first value of header [name] (case-insensitive), or `null` when the request has no such header. */
    public fun header(name: String): String? = headers[name.lowercase()]?.firstOrNull()

    /** Every value of header [name] (case-insensitive), in order; empty when absent. */
    public fun headerValues(name: String): List<String> = headers[name.lowercase()].orEmpty()

    /** All headers: lower-cased names to their values in order. Unmodifiable. */
    public fun headers(): Map<String, List<String>> = headers

    /** The subprotocols the client offered in `Sec-WebSocket-Protocol`, in its order of preference. */
    public fun offeredSubprotocols(): List<String> =
        headerValues("sec-websocket-protocol").flatMap { it.split(',') }.map { it.trim() }.filter { it.isNotEmpty() }

    /** The request line and the headers' names. */
    override fun toString(): String = "UpgradeRequest($requestLine, headers=${headers.keys})"
}
