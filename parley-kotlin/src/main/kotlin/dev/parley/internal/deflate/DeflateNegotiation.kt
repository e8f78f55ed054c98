package dev.parley.internal.deflate

import dev.parley.Compression
import dev.parley.isToken
import dev.parley.transport.HandshakeRejectedException

/** What the server accepted of our permessage-deflate offer (RFC 7692 §7.1). */
internal data class DeflateParameters(
    /** We must compress each message on its own (we offered it, or the server asked). */
    val clientNoContextTakeover: Boolean,
    /** The server compresses each message on its own. */
    val serverNoContextTakeover: Boolean,
    /** The server's window, when it named one; our inflater handles any. */
    val serverMaxWindowBits: Int?,
)

/**
 * The client's side of the permessage-deflate negotiation: the offer, and the checks the server's answer must pass.
 * Parley offers one extension and nothing else, so the answer may select that one or none.
 */
internal object DeflateNegotiation {
    const val HEADER = "Sec-WebSocket-Extensions"

    private const val NAME = "permessage-deflate"
    private const val CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
    private const val SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
    private const val SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
    private const val CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"

    /** The `Sec-WebSocket-Extensions` value offering [compression]. */
    fun offer(compression: Compression): String = buildString {
        append(NAME)
        if (compression.clientNoContextTakeover) append("; ").append(CLIENT_NO_CONTEXT_TAKEOVER)
        if (compression.serverNoContextTakeover) append("; ").append(SERVER_NO_CONTEXT_TAKEOVER)
        compression.serverMaxWindowBits?.let { append("; ").append(SERVER_MAX_WINDOW_BITS).append('=').append(it) }
    }

    /**
     * What the 101's [headers] (lower-case names) selected: `null` for no extension, the parameters when the server
     * accepted our offer of [offered] (`null` when we offered nothing).
     *
     * @throws HandshakeRejectedException when the answer selects what was not offered or breaks RFC 7692's rules.
     */
    fun accept(headers: Map<String, List<String>>, offered: Compression?): DeflateParameters? {
        fun reject(message: String): Nothing = throw HandshakeRejectedException(101, headers, message)
        val extensions = parse(headers["sec-websocket-extensions"] ?: return null) { reject(it) }
        if (extensions.isEmpty()) return null
        val (name, params) = extensions.first()
        if (offered == null) reject("server selected the extension '$name', but none was offered")
        if (extensions.size > 1) {
            reject(
                "server selected ${extensions.size} extensions (${extensions.joinToString {
                    it.first
                }}); only $NAME was offered",
            )
        }
        if (!name.equals(
                NAME,
                ignoreCase = true,
            )
        ) {
            reject("server selected the extension '$name', which was not offered")
        }
        var clientNoContextTakeover = offered.clientNoContextTakeover
        var serverNoContextTakeover = false
        var serverMaxWindowBits: Int? = null
        val seen = HashSet<String>()
        for ((param, value) in params) {
            val key = param.lowercase()
            if (!seen.add(key)) reject("$NAME response repeats the parameter $param")
            when (key) {
                // RFC 7692 §7.1.1: the server may ask for either even where the offer did not.
                CLIENT_NO_CONTEXT_TAKEOVER, SERVER_NO_CONTEXT_TAKEOVER -> {
                    if (value != null) reject("$NAME parameter $param takes no value but had '$value'")
                    if (key ==
                        CLIENT_NO_CONTEXT_TAKEOVER
                    ) {
                        clientNoContextTakeover = true
                    } else {
                        serverNoContextTakeover = true
                    }
                }

                // §7.1.2.1: the server may name its window even unasked, but never a larger one than we asked for.
                SERVER_MAX_WINDOW_BITS -> {
                    val bits = windowBits(value) ?: reject("$NAME parameter $param must be 8..15 but was '$value'")
                    val asked = offered.serverMaxWindowBits
                    if (asked != null && bits > asked) reject("server chose $param=$bits, above the $asked offered")
                    serverMaxWindowBits = bits
                }

                // §7.1.2.2: a response may name it only if the offer did, and Parley's never does.
                CLIENT_MAX_WINDOW_BITS -> reject(
                    "server asked for $param, which was not offered: Parley compresses with the JDK's Deflater, " +
                        "whose window is always 32 KiB (15 bits)",
                )

                else -> reject("$NAME response has the unknown parameter $param")
            }
        }
        return DeflateParameters(clientNoContextTakeover, serverNoContextTakeover, serverMaxWindowBits)
    }

    /** 8..15 written as RFC 7692 §7.1.2 asks (digits, no leading zero), or `null`. */
    private fun windowBits(value: String?): Int? {
        if (value == null || value.isEmpty() || value.length > 2 || value[0] == '0' || !value.all { it in '0'..'9' }) {
            return null
        }
        return value.toInt().takeIf { it in 8..15 }
    }

    /**
     * RFC 6455 §9.1's `extension-list`: extensions separated by commas, each a token followed by `; name[=value]`
     * parameters, a value a token or a quoted string. Header lines are joined as one list.
     */
    private fun parse(
        lines: List<String>,
        reject: (String) -> Nothing,
    ): List<Pair<String, List<Pair<String, String?>>>> = lines.flatMap { it.split(',') }
        .map { it.trim() }
        .filter { it.isNotEmpty() }
        .map { extension ->
            val parts = extension.split(';').map { it.trim() }
            val name = parts[0]
            if (!name.isToken()) reject("malformed Sec-WebSocket-Extensions: '$extension'")
            name to parts.drop(1).map { param ->
                val at = param.indexOf('=')
                val key = (if (at < 0) param else param.substring(0, at)).trim()
                val value = if (at < 0) null else param.substring(at + 1).trim().removeSurrounding("\"")
                if (!key.isToken() || (value != null && value.isEmpty())) {
                    reject("malformed Sec-WebSocket-Extensions parameter '$param' in '$extension'")
                }
                key to value
            }
        }
}
