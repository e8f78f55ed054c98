package dev.parley.recorder

import java.time.Clock
import java.time.Duration

/**
 * How a [FrameRecorder] buffers, writes and redacts. Build one with [builder] (or `RecorderOptions.builder()` from
 * Java); [DEFAULT] holds the defaults.
 *
 * @property maxBufferedFrames how many frames may wait for the writer; one more is dropped (and counted). 10,000.
 * @property maxBufferedBytes how many payload bytes may wait for the writer; a frame that would pass it is dropped.
 *   16 MiB.
 * @property maxFileBytes the size a file may reach before the recorder moves on to a new one. 64 MiB.
 * @property maxFiles how many files a recording keeps, the current one included; older ones are deleted. 5.
 * @property redactedFields names of fields whose values are secrets (see [TextRedactor] for other formats).
 * @property redactor a redactor of your own, run after the built-in one, or `null`.
 * @property closeTimeout how long [FrameRecorder.close] waits for the writer to drain the buffer. 5 s.
 * @property clock the clock that stamps each entry; the system's (UTC) by default.
 */
public class RecorderOptions private constructor(
    public val maxBufferedFrames: Int,
    public val maxBufferedBytes: Long,
    public val maxFileBytes: Long,
    public val maxFiles: Int,
    public val redactedFields: Set<String>,
    public val redactor: TextRedactor?,
    public val closeTimeout: Duration,
    public val clock: Clock,
) {
    /** The limits; never the redactor's internals. */
    override fun toString(): String =
        "RecorderOptions(maxBufferedFrames=$maxBufferedFrames, maxBufferedBytes=$maxBufferedBytes, " +
            "maxFileBytes=$maxFileBytes, maxFiles=$maxFiles, redactedFields=${redactedFields.size}, " +
            "closeTimeout=$closeTimeout)"

    /** Builds [RecorderOptions]; every setter checks its value and returns the builder. */
    public class Builder internal constructor() {
        private var maxBufferedFrames = 10_000
        private var maxBufferedBytes = 16L shl 20
        private var maxFileBytes = 64L shl 20
        private var maxFiles = 5
        private val redactedFields = DEFAULT_REDACTED_FIELDS.toMutableSet()
        private var redactor: TextRedactor? = null
        private var closeTimeout: Duration = Duration.ofSeconds(5)
        private var clock: Clock = Clock.systemUTC()

        /** See [RecorderOptions.maxBufferedFrames]; at least 1. */
        public fun maxBufferedFrames(frames: Int): Builder = apply {
            require(frames >= 1) { "maxBufferedFrames must be at least 1 but was $frames" }
            maxBufferedFrames = frames
        }

        /** See [RecorderOptions.maxBufferedBytes]; at least 1. */
        public fun maxBufferedBytes(bytes: Long): Builder = apply {
            require(bytes >= 1) { "maxBufferedBytes must be at least 1 but was $bytes" }
            maxBufferedBytes = bytes
        }

        /** See [RecorderOptions.maxFileBytes]; at least 4 KiB. */
        public fun maxFileBytes(bytes: Long): Builder = apply {
            require(bytes >= 4096) { "maxFileBytes must be at least 4096 but was $bytes" }
            maxFileBytes = bytes
        }

        /** See [RecorderOptions.maxFiles]; at least 1. */
        public fun maxFiles(files: Int): Builder = apply {
            require(files >= 1) { "maxFiles must be at least 1 but was $files" }
            maxFiles = files
        }

        /** Adds [names] to the fields whose values are redacted (the defaults stay; see [noRedactedFields]). */
        public fun redactField(vararg names: String): Builder = apply {
            names.forEach { require(it.isNotBlank()) { "a redacted field name must not be blank" } }
            redactedFields += names
        }

        /** Clears the redacted field names, the defaults included: text is then written as it came. */
        public fun noRedactedFields(): Builder = apply { redactedFields.clear() }

        /** See [RecorderOptions.redactor]. */
        public fun redactor(redactor: TextRedactor): Builder = apply { this.redactor = redactor }

        /** See [RecorderOptions.closeTimeout]; positive. */
        public fun closeTimeout(timeout: Duration): Builder = apply {
            require(!timeout.isNegative && !timeout.isZero) { "closeTimeout must be positive but was $timeout" }
            closeTimeout = timeout
        }

        /** See [RecorderOptions.clock]. */
        public fun clock(clock: Clock): Builder = apply { this.clock = clock }

        /** The options. */
        public fun build(): RecorderOptions = RecorderOptions(
            maxBufferedFrames,
            maxBufferedBytes,
            maxFileBytes,
            maxFiles,
            redactedFields.toSet(),
            redactor,
            closeTimeout,
            clock,
        )
    }

    public companion object {
        /**
         * The field names redacted by default: what exchanges and identity providers call credentials. Compared
         * without case, `_` or `-`.
         */
        @JvmField
        public val DEFAULT_REDACTED_FIELDS: Set<String> = setOf(
            "password", "passwd", "passphrase", "secret", "clientSecret", "apiSecret", "secretKey", "privateKey",
            "token", "accessToken", "refreshToken", "idToken", "sessionToken", "authToken", "apiKey", "signature",
            "authorization", "credentials", "cookie",
        )

        /** The defaults. */
        @JvmField
        public val DEFAULT: RecorderOptions = Builder().build()

        /** A builder starting from the defaults. */
        @JvmStatic
        public fun builder(): Builder = Builder()
    }
}
