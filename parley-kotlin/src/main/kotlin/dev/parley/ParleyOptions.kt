package dev.parley

import dev.parley.transport.ParleyTransportApi
import dev.parley.transport.TransportFactory
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import java.net.URI
import java.net.URISyntaxException
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Everything a client needs to know to connect, validated: build one with [parleyOptions].
 *
 * `toString()` redacts header values that may carry secrets (see [ParleyOptions.Builder.sensitiveHeaders]).
 */
public class ParleyOptions internal constructor(
    /** The server's `ws://` or `wss://` URI, with path and query. */
    public val uri: URI,
    /** Headers sent with the upgrade request, in order; a name may repeat. */
    public val headers: List<Pair<String, String>>,
    /** Subprotocols offered in `Sec-WebSocket-Protocol`, in order of preference. */
    public val subprotocols: List<String>,
    /** Bounds DNS lookup, TCP connect, TLS handshake and HTTP upgrade together. */
    public val connectTimeout: Duration,
    /** How long to wait for the peer's close frame after ours before aborting the socket. */
    public val closeTimeout: Duration,
    /** How long a write may make no progress before the connection is declared dead; infinite for never. */
    public val writeTimeout: Duration,
    /** Automatic reconnection, or `null` for none (Parley's default). */
    public val reconnect: ReconnectPolicy?,
    /** Dead-connection detection with pings, or `null` for none (the default). */
    public val heartbeat: HeartbeatPolicy?,
    /** Capacity of the send queue in frames. */
    public val sendQueueCapacity: Int,
    /** What [ParleyClient.send] does when the queue is full. */
    public val sendOverflow: SendOverflow,
    /** Largest inbound message accepted, in bytes, after reassembly; larger closes with 1009. */
    public val maxFrameSize: Long,
    /** TLS settings for `wss://`. */
    public val tls: TlsSettings,
    /** How the server is reached: straight, or through an HTTP or SOCKS5 proxy (by default the JVM's choice). */
    public val proxy: ProxySettings,
    /** Name used in logs and coroutine names. */
    public val name: String,
    /** Header names (lower case) whose values never appear in logs or `toString()`. */
    public val sensitiveHeaders: Set<String>,
    /**
     * How connections are opened: `null` for Parley's own transport, which frames RFC 6455 itself on Ktor's sockets;
     * a transport module's factory otherwise (e.g. `parley-ktor-client`'s, through a caller's Ktor `HttpClient`).
     */
    @property:ParleyTransportApi
    public val transport: TransportFactory?,
    /** How many [HandlerAction.Later] results may be outstanding before the client stops reading. */
    public val maxPendingCallbacks: Int,
    /** Where the client's loop and handler callbacks run, or `null` for [kotlinx.coroutines.Dispatchers.Default]. */
    public val dispatcher: CoroutineDispatcher?,
    /** How many bytes of received messages may be held for the handler at once before the client stops reading. */
    public val maxBufferedInboundBytes: Long,
    /** permessage-deflate as offered to the server, or `null` when Parley offers no compression. */
    public val compression: Compression?,
    /** Computes each attempt's URL, extra headers and subprotocols, or `null` to use these options as they are. */
    public val connectionInfo: ConnectionInfoProvider?,
    /** Which disconnects are worth reconnecting after, under [reconnect]; by default [RecoveryPolicy.DEFAULT]. */
    public val recoveryPolicy: RecoveryPolicy,
    /** The layers between the client and its handler, in order ([ClientLayer]); empty by default. */
    public val layers: List<ClientLayer>,
    /** Transforms every outgoing data frame once, or `null` (the default) to send frames as they are. */
    public val prepareFrame: FramePreparer?,
    /** The gate every data frame sent through the client passes first (a rate limit), or `null` (the default). */
    public val sendGate: SendGate?,
    /** Sees every frame sent and received, and each connection's start and end ([WireTap]), or `null` (the default). */
    public val wireTap: WireTap?,
) {
    override fun toString(): String {
        val shownHeaders = headers.joinToString { (k, v) ->
            "$k: ${redacted(k, v)}"
        }
        val shownUri = uri.withoutQuery()
        return "ParleyOptions(name=$name, uri=$shownUri, headers=[$shownHeaders], subprotocols=$subprotocols, " +
            "connectTimeout=$connectTimeout, closeTimeout=$closeTimeout, writeTimeout=$writeTimeout, " +
            "reconnect=$reconnect, heartbeat=$heartbeat, " +
            "sendQueueCapacity=$sendQueueCapacity, sendOverflow=$sendOverflow, maxFrameSize=$maxFrameSize, " +
            "tls=$tls, proxy=$proxy, compression=$compression, " +
            "maxPendingCallbacks=$maxPendingCallbacks, maxBufferedInboundBytes=$maxBufferedInboundBytes)"
    }

    /** The mutable side of [ParleyOptions]; [build] validates it. */
    public class Builder internal constructor() {
        /** Required: a `ws://` or `wss://` URL with a host. The path and query string are kept. */
        public var url: String? = null

        /** Headers for the upgrade request; prefer [header]. */
        public val headers: MutableList<Pair<String, String>> = mutableListOf()

        /** Subprotocols to offer, in order of preference. */
        public val subprotocols: MutableList<String> = mutableListOf()

        /** Bounds DNS + TCP + TLS + upgrade together. Default 10 s. */
        public var connectTimeout: Duration = 10.seconds

        /** Wait this long for the peer's close frame after ours, then abort the socket. Default 5 s. */
        public var closeTimeout: Duration = 5.seconds

        /**
         * How long a write may make no progress, because the socket's send buffer stays full, before the connection
         * is declared dead with [DisconnectReason.WriteTimedOut]. Default 30 s; [Duration.INFINITE] never gives up.
         * A peer that stops reading would otherwise hold every sender forever while pings cannot get out either.
         */
        public var writeTimeout: Duration = 30.seconds

        /** Automatic reconnection; `null` (the default) for none. Set it with [reconnect]. */
        public var reconnect: ReconnectPolicy? = null

        /** Dead-connection detection; `null` (the default) for none. Set it with [heartbeat]. */
        public var heartbeat: HeartbeatPolicy? = null

        /** Capacity of the send queue in frames (default 1024). */
        public var sendQueueCapacity: Int = 1024

        /** What [ParleyClient.send] does when the queue is full (default [SendOverflow.SUSPEND]). */
        public var sendOverflow: SendOverflow = SendOverflow.SUSPEND

        /** Largest inbound message in bytes (default 16 MiB); a compressed one is counted as it inflates. */
        public var maxFrameSize: Long = 16L * 1024 * 1024

        /** TLS settings for `wss://`. */
        public var tls: TlsSettings = TlsSettings()

        /**
         * How the server is reached (default [ProxySettings.SystemDefault]: whatever the JVM's `ProxySelector` says,
         * so `-Dhttps.proxyHost` and `-DsocksProxyHost` work). A proxy that fails the attempt is reported as
         * [DisconnectReason.ConnectFailed] with a [ProxyException] (the proxy's status, or its SOCKS reply) as cause.
         * Only Parley's own transport uses it; with a caller's Ktor `HttpClient`, that client's engine decides.
         */
        public var proxy: ProxySettings = ProxySettings.SystemDefault

        /** Name for logs and coroutine names; defaults to `parley-<n>`. */
        public var name: String? = null

        /** Extra header names to redact in logs, besides `authorization`, `cookie` and `sec-websocket-key`. */
        public val sensitiveHeaders: MutableSet<String> = mutableSetOf()

        /**
         * Another way of opening connections than Parley's own transport (the default, `null`). Transport modules set
         * it through their own option: with `parley-ktor-client`, `httpClient(yourKtorClient)`.
         */
        @property:ParleyTransportApi
        public var transport: TransportFactory? = null

        /**
         * How many message callbacks may be finishing later ([HandlerAction.Later]) at once (default 256). At that
         * bound the client reads no further frame until half of them have completed, so a slow consumer pushes back on
         * the peer through TCP instead of holding messages without bound.
         */
        public var maxPendingCallbacks: Int = 256

        /**
         * Where the client's loop, and so its handler callbacks, run (default `null`: [Dispatchers.Default]). The
         * client uses it one task at a time (it applies `limitedParallelism(1)`), so callbacks never overlap whatever
         * you give. Give `Dispatchers.IO` if handler callbacks block (JDBC, files), so that they block a thread of a
         * pool made for that rather than one of the few of `Dispatchers.Default`; or a dispatcher over a thread of
         * your own.
         */
        public var dispatcher: CoroutineDispatcher? = null

        /**
         * How many bytes of received messages may be held for the handler at once (default 8 MiB): read but not yet
         * handled, or answered by a callback that finishes later ([HandlerAction.Later]); a client without a handler
         * holds up to as much again in `incoming` for a collector that lags. Beyond it the client reads nothing more
         * until some are done, so TCP pushes back on a peer that floods it, whatever the size of its messages; each
         * message counts its payload plus about 100 bytes for the objects around it. A single message larger than
         * this (up to [maxFrameSize]) still passes when nothing else is held.
         */
        public var maxBufferedInboundBytes: Long = 8L * 1024 * 1024

        /**
         * permessage-deflate (RFC 7692), offered to the server by default with [Compression]'s defaults; `null` offers
         * none. The server decides: a server that does not select it gets uncompressed frames, as before. Works on
         * Parley's own transport and through a Ktor `HttpClient` alike, since Parley compresses and inflates itself.
         */
        public var compression: Compression? = Compression()

        /**
         * Called before every connection attempt for that attempt's URL, extra headers and subprotocols (default
         * `null`: these options, every time). For tokens that expire, endpoints that rotate, signed URLs; see
         * [ConnectionInfoProvider] and, for bearer tokens, [BearerToken]. Set it with [connectionInfo].
         */
        public var connectionInfo: ConnectionInfoProvider? = null

        /** Sets [connectionInfo]: `connectionInfo { ConnectionInfo(headers = listOf("Authorization" to token())) }`. */
        public fun connectionInfo(provider: ConnectionInfoProvider) {
            connectionInfo = provider
        }

        /**
         * Which disconnects [reconnect] retries (default [RecoveryPolicy.DEFAULT], [DisconnectReason.recovery]): a
         * fatal one, such as a 401, leaves the client disconnected until [ParleyClient.connect] instead of retrying
         * the same refused request forever; a recoverable one with a `Retry-After` waits at least that long.
         */
        public var recoveryPolicy: RecoveryPolicy = RecoveryPolicy.DEFAULT

        /**
         * Sends `Authorization: Bearer <token>` with every attempt, fetched again before it expires and after a 401
         * (sets [connectionInfo] to [BearerToken.connectionInfo]), and retries a 401 once when it answered a reused
         * token (wraps [recoveryPolicy] with [BearerToken.recoveryPolicy]: set a policy of your own before this).
         */
        public fun bearerToken(token: BearerToken) {
            connectionInfo = token.connectionInfo()
            recoveryPolicy = token.recoveryPolicy(recoveryPolicy)
        }

        /** The layers between the client and its handler, in the order they see events; prefer [layer]. */
        public val layers: MutableList<ClientLayer> = mutableListOf()

        /** Adds [layer] after the ones added before, e.g. `layer(requests)` for a [Requests]. */
        public fun layer(layer: ClientLayer) {
            layers += layer
        }

        /** Transforms every outgoing data frame once (see [FramePreparer]); `null` (the default) for none. */
        public var prepareFrame: FramePreparer? = null

        /** A gate every sent data frame passes first, e.g. a rate limit (see [SendGate]); `null` (the default) for none. */
        public var sendGate: SendGate? = null

        /**
         * Sees every frame the client sends and receives, and each connection's start and end, e.g. a `FrameRecorder`
         * from `parley-recorder` (see [WireTap]); `null` (the default) for none.
         */
        public var wireTap: WireTap? = null

        /** Sets [prepareFrame]: `prepareFrame { frame -> sign(frame) }`. */
        public fun prepareFrame(preparer: FramePreparer) {
            prepareFrame = preparer
        }

        /** Adds an upgrade request header. */
        public fun header(name: String, value: String) {
            headers += name to value
        }

        /** Turns on reconnection with the default policy, adjusted by [configure]. */
        public fun reconnect(configure: ReconnectPolicy.Builder.() -> Unit = {}) {
            reconnect = ReconnectPolicy.Builder().apply(configure).build()
        }

        /** Turns on the heartbeat with 15 s interval and 10 s pong timeout, adjusted by [configure]. */
        public fun heartbeat(configure: HeartbeatPolicy.Builder.() -> Unit = {}) {
            heartbeat = HeartbeatPolicy.Builder().apply(configure).build()
        }

        /** Validates and freezes the options. @throws IllegalArgumentException naming the bad option. */
        public fun build(): ParleyOptions {
            val uri = parseWebSocketUrl(url)
            for ((k, v) in headers) validateHeader(k, v)
            subprotocols.forEach(::validateSubprotocol)
            require(connectTimeout.isPositive()) { "connectTimeout must be positive but was $connectTimeout" }
            require(closeTimeout.isPositive()) { "closeTimeout must be positive but was $closeTimeout" }
            require(writeTimeout.isPositive()) { "writeTimeout must be positive but was $writeTimeout" }
            tls.validate()
            require(sendQueueCapacity in 1..MAX_QUEUE) {
                "sendQueueCapacity must be in 1..$MAX_QUEUE but was $sendQueueCapacity"
            }
            require(maxFrameSize in 1..Int.MAX_VALUE.toLong()) {
                "maxFrameSize must be in 1..${Int.MAX_VALUE} bytes but was $maxFrameSize"
            }
            require(maxPendingCallbacks > 0) { "maxPendingCallbacks must be positive but was $maxPendingCallbacks" }
            require(maxBufferedInboundBytes > 0) {
                "maxBufferedInboundBytes must be positive but was $maxBufferedInboundBytes"
            }
            val name = name ?: "parley-${nextId.incrementAndGet()}"
            require(name.isNotBlank()) { "name must not be blank" }
            require(layers.toSet().size == layers.size) {
                "a layer was added twice: ${layers.groupBy { it }.filterValues { it.size > 1 }.keys}"
            }
            return ParleyOptions(
                uri = uri,
                headers = headers.toList(),
                subprotocols = subprotocols.toList(),
                connectTimeout = connectTimeout,
                closeTimeout = closeTimeout,
                writeTimeout = writeTimeout,
                reconnect = reconnect,
                heartbeat = heartbeat,
                sendQueueCapacity = sendQueueCapacity,
                sendOverflow = sendOverflow,
                maxFrameSize = maxFrameSize,
                tls = tls,
                proxy = proxy,
                name = name,
                sensitiveHeaders = DEFAULT_SENSITIVE + sensitiveHeaders.map { it.lowercase() },
                transport = transport,
                maxPendingCallbacks = maxPendingCallbacks,
                dispatcher = dispatcher,
                maxBufferedInboundBytes = maxBufferedInboundBytes,
                compression = compression,
                connectionInfo = connectionInfo,
                recoveryPolicy = recoveryPolicy,
                layers = layers.toList(),
                prepareFrame = prepareFrame,
                sendGate = sendGate,
                wireTap = wireTap,
            )
        }
    }

    /** [value] as logs and toString may show it: hidden when [name] is a sensitive header. */
    internal fun redacted(name: String, value: String): String =
        if (name.lowercase() in sensitiveHeaders) REDACTED else value

    /** [headers] as logs and published states may show them. */
    internal fun redacted(headers: Map<String, List<String>>): Map<String, List<String>> =
        headers.mapValues { (k, v) -> v.map { redacted(k, it) } }

    internal companion object {
        const val REDACTED = "██"

        const val MAX_QUEUE = 1 shl 20
        val DEFAULT_SENSITIVE =
            setOf("authorization", "proxy-authorization", "cookie", "set-cookie", "sec-websocket-key")
        val RESERVED_HEADERS =
            setOf(
                "upgrade",
                "connection",
                "sec-websocket-key",
                "sec-websocket-version",
                "sec-websocket-protocol",
                "sec-websocket-extensions",
                "content-length",
                "host",
            )
        val nextId = java.util.concurrent.atomic.AtomicLong()
    }
}

/** Builds validated [ParleyOptions]: `parleyOptions { url = "wss://example.com/feed"; reconnect() }`. */
public fun parleyOptions(configure: ParleyOptions.Builder.() -> Unit): ParleyOptions =
    ParleyOptions.Builder().apply(configure).build()

/** What [ParleyClient.send] does when the send queue is full. */
public enum class SendOverflow {
    /** Suspend the caller until there is room (backpressure). */
    SUSPEND,

    /** Throw [SendQueueFullException] at once. */
    FAIL,
}

/** An RFC 9110 §5.6.2 token (header names, subprotocols, extension names and parameters): visible ASCII but separators. */
internal fun String.isToken(): Boolean = isNotEmpty() && all { it in '!'..'~' && it !in "()<>@,;:\\\"/[]?={}" }

/** The URI for logs and toString: query strings often carry tokens. */
internal fun URI.withoutQuery(): String = toString().withoutQuery()

/** A URL for logs and toString, without its query (which often carries tokens). */
internal fun String.withoutQuery(): String = if ('?' in this) substringBefore('?') + "?…" else this

/** Parses a `ws://` or `wss://` URL as the options and each attempt's [ConnectionInfo] need it. */
internal fun parseWebSocketUrl(url: String?): URI {
    requireNotNull(url) { "url is required" }
    val uri =
        try {
            URI(url)
        } catch (e: URISyntaxException) {
            throw IllegalArgumentException("url '$url' is not a valid URI: ${e.reason}", e)
        }
    require(uri.scheme?.lowercase() in setOf("ws", "wss")) {
        "url must use ws:// or wss:// but was '$url'"
    }
    require(!uri.host.isNullOrEmpty()) { "url must have a host but was '$url'" }
    require(uri.fragment == null) { "url must not have a fragment (RFC 6455 §3) but was '$url'" }
    // Not echoed: the message would carry the password into whatever logs it.
    require(uri.rawUserInfo == null) {
        "url must not carry credentials (user:password@host): send them in a header instead, e.g. " +
            "header(\"Authorization\", …), whose value Parley redacts in logs"
    }
    return uri
}

internal fun validateHeader(name: String, value: String) {
    require(name.isToken()) { "headers: '$name' is not a valid header name" }
    require(value.none { it == '\r' || it == '\n' || it == '\u0000' }) {
        "headers: the value of '$name' contains CR, LF or NUL"
    }
    require(name.lowercase() !in ParleyOptions.RESERVED_HEADERS) {
        "headers: '$name' is set by Parley itself" +
            if (name.equals("sec-websocket-protocol", true)) "; use subprotocols" else ""
    }
}

/** Checks a subprotocol name (RFC 6455 §4.1: a token). */
internal fun validateSubprotocol(protocol: String) {
    require(protocol.isToken()) { "subprotocols: '$protocol' is not a valid token" }
}
