package dev.parley.internal

/**
 * Incremental UTF-8 validation (RFC 3629), so a fragmented text message fails on the first bad fragment rather than
 * after the whole message has been buffered. Rejects overlong forms, surrogates (U+D800–DFFF) and code points above
 * U+10FFFF. Not thread safe; one per message.
 */
internal class Utf8Validator {
    /** Continuation bytes still expected for the current code point. */
    private var pending = 0

    /** Allowed range for the next continuation byte; narrowed after some lead bytes to exclude overlongs etc. */
    private var low = 0x80
    private var high = 0xBF

    /** Feeds [bytes]; returns false as soon as they cannot be part of valid UTF-8. */
    fun feed(bytes: ByteArray, from: Int = 0, to: Int = bytes.size): Boolean {
        for (i in from until to) {
            val b = bytes[i].toInt() and 0xFF
            if (pending == 0) {
                when (b) {
                    in 0x00..0x7F -> continue
                    in 0xC2..0xDF -> start(1, 0x80, 0xBF)
                    0xE0 -> start(2, 0xA0, 0xBF)
                    in 0xE1..0xEC, 0xEE, 0xEF -> start(2, 0x80, 0xBF)
                    0xED -> start(2, 0x80, 0x9F)
                    0xF0 -> start(3, 0x90, 0xBF)
                    in 0xF1..0xF3 -> start(3, 0x80, 0xBF)
                    0xF4 -> start(3, 0x80, 0x8F)
                    else -> return false
                }
            } else {
                if (b < low || b > high) return false
                pending--
                low = 0x80
                high = 0xBF
            }
        }
        return true
    }

    /** Whether the bytes fed so far end on a code point boundary. */
    val isComplete: Boolean get() = pending == 0

    private fun start(continuations: Int, firstLow: Int, firstHigh: Int) {
        pending = continuations
        low = firstLow
        high = firstHigh
    }
}
