package dev.parley

import java.util.zip.Deflater

/**
 * permessage-deflate (RFC 7692): what Parley offers the server, and how it compresses what it sends. On by default
 * ([ParleyOptions.Builder.compression]); the server decides whether it is used, and its answer is checked: a 101
 * that selects parameters Parley did not offer, or values outside the RFC's ranges, fails the attempt with
 * [DisconnectReason.HandshakeRejected].
 *
 * Inbound, a compressed message is inflated as its frames arrive and never beyond [ParleyOptions.maxFrameSize]: a
 * message that would inflate further closes the connection with 1009 ([DisconnectReason.MessageTooBig]) without
 * inflating the rest, so a few KiB on the wire cannot become gigabytes in memory.
 *
 * Parley never offers `client_max_window_bits`: the JDK's `Deflater` always compresses with a 32 KiB window, so
 * Parley could not honour a server that asks for a smaller one. Servers then assume the full window, as RFC 7692
 * §7.1.2.2 requires. The compressor and the decompressor are made on first use and released when the connection
 * ends.
 *
 * @property threshold messages smaller than this many bytes are sent uncompressed (default 1,024: deflate's headers
 *   and the CPU cost outweigh what a short message saves). 0 compresses every message.
 * @property level the `Deflater` level, 1 (fastest) to 9 (smallest); default [Deflater.DEFAULT_COMPRESSION] (6).
 * @property clientNoContextTakeover offer `client_no_context_takeover`: Parley compresses each message on its own
 *   rather than referring back to earlier ones (smaller ratio; for servers that want it). Parley also does this
 *   whenever the server asks for it.
 * @property serverNoContextTakeover ask the server, with `server_no_context_takeover`, to compress each message on its
 *   own, which spares the server the memory of a context per connection.
 * @property serverMaxWindowBits ask the server, with `server_max_window_bits`, to use a window of at most
 *   2^bits bytes (8..15), or `null` (the default) to leave it to the server. Parley can inflate any window.
 */
public data class Compression(
    val threshold: Int = DEFAULT_THRESHOLD,
    val level: Int = Deflater.DEFAULT_COMPRESSION,
    val clientNoContextTakeover: Boolean = false,
    val serverNoContextTakeover: Boolean = false,
    val serverMaxWindowBits: Int? = null,
) {
    init {
        require(threshold >= 0) { "compression.threshold must not be negative but was $threshold" }
        require(level == Deflater.DEFAULT_COMPRESSION || level in 1..9) {
            "compression.level must be in 1..9 (or ${Deflater.DEFAULT_COMPRESSION} for the default) but was $level"
        }
        require(serverMaxWindowBits == null || serverMaxWindowBits in 8..15) {
            "compression.serverMaxWindowBits must be in 8..15 but was $serverMaxWindowBits"
        }
    }

    /** Builds a [Compression] step by step, for Java; each setter returns the builder. */
    public class Builder internal constructor() {
        private var settings = Compression()

        /** See [Compression.threshold]. */
        public fun threshold(bytes: Int): Builder = apply { settings = settings.copy(threshold = bytes) }

        /** See [Compression.level]. */
        public fun level(level: Int): Builder = apply { settings = settings.copy(level = level) }

        /** See [Compression.clientNoContextTakeover]. */
        public fun clientNoContextTakeover(offer: Boolean): Builder =
            apply { settings = settings.copy(clientNoContextTakeover = offer) }

        /** See [Compression.serverNoContextTakeover]. */
        public fun serverNoContextTakeover(ask: Boolean): Builder =
            apply { settings = settings.copy(serverNoContextTakeover = ask) }

        /** See [Compression.serverMaxWindowBits]. */
        public fun serverMaxWindowBits(bits: Int): Builder =
            apply { settings = settings.copy(serverMaxWindowBits = bits) }

        /** The settings; each setter has already checked its value. */
        public fun build(): Compression = settings
    }

    public companion object {
        /** Messages below 1,024 bytes are sent uncompressed by default. */
        public const val DEFAULT_THRESHOLD: Int = 1024

        /** A builder starting from the defaults. */
        @JvmStatic
        public fun builder(): Builder = Builder()
    }
}
