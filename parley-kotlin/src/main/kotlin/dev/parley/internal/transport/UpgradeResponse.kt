package dev.parley.internal.transport

import dev.parley.isToken
import java.io.EOFException
import java.net.ProtocolException

/** The head of the server's answer to the upgrade request: its status line and headers (lower-case names). */
internal class UpgradeResponse(
    val status: Int,
    val reasonPhrase: String,
    val headers: Map<String, List<String>>,
)

/*
 * Why Parley reads the upgrade response itself: the peer controls every byte of it, so its size must be bounded in
 * total and in lines (a general HTTP parser bounds a line, not how many there are: a 101 with 16 MiB of headers was
 * once accepted), a read must stop when the connect timeout cancels it, and bytes that are not HTTP must fail with
 * an explanation rather than an index error from deep inside a parser. It takes one byte at a time from the
 * connection's input buffer, so a frame the server sent right behind the head stays there for the frame decoder.
 */
internal object UpgradeResponseReader {
    /** The whole head, status line and headers: far above the few hundred bytes real servers send. */
    const val MAX_HEAD_BYTES = 16 * 1024

    /** Header lines; real 101 responses carry fewer than 20. */
    const val MAX_HEADER_LINES = 100

    /**
     * Reads the response head, up to and including the empty line that ends it.
     *
     * @throws EOFException when the connection ends first.
     * @throws ProtocolException when the bytes are not an HTTP/1.1 response head, or it is too long.
     */
    suspend fun read(input: LinkInput): UpgradeResponse {
        val budget = Budget()
        val statusLine =
            readLine(input, budget)
                ?: throw EOFException("the server closed the connection before answering the upgrade")
        val (status, reason) = parseStatusLine(statusLine)
        val headers = LinkedHashMap<String, MutableList<String>>()
        var lines = 0
        while (true) {
            val line =
                readLine(input, budget)
                    ?: throw EOFException("the server closed the connection in the middle of the upgrade response")
            if (line.isEmpty()) break
            if (++lines > MAX_HEADER_LINES) {
                throw ProtocolException("upgrade response: more than $MAX_HEADER_LINES header lines")
            }
            val (name, value) = parseHeader(line)
            headers.getOrPut(name) { mutableListOf() } += value
        }
        return UpgradeResponse(status, reason, headers)
    }

    private class Budget {
        var bytes = 0
    }

    /** One line without its CRLF (a bare LF is accepted, as RFC 9112 §2.2 allows), or null at a clean end. */
    private suspend fun readLine(input: LinkInput, budget: Budget): String? {
        val line = StringBuilder()
        while (true) {
            if (!input.require(1)) {
                // A clean end between lines; the caller says whether the head may end there.
                if (line.isEmpty()) return null
                throw EOFException("the server closed the connection in the middle of the upgrade response")
            }
            val byte = input.byte()
            if (++budget.bytes > MAX_HEAD_BYTES) {
                throw ProtocolException("upgrade response: head longer than $MAX_HEAD_BYTES bytes")
            }
            when (byte) {
                LF -> return if (line.endsWith('\r')) line.substring(0, line.length - 1) else line.toString()
                0 -> throw ProtocolException("upgrade response: a NUL byte in the head, so it is not HTTP")
                else -> line.append(byte.toChar()) // ISO-8859-1, as HTTP/1.1 header bytes are read
            }
        }
    }

    private fun parseStatusLine(line: String): Pair<Int, String> {
        // HTTP-version SP 3DIGIT SP [reason-phrase] (RFC 9112 §4); the version is checked, the reason is free text.
        val valid =
            line.length >= 12 &&
                line.startsWith("HTTP/1.") &&
                line[7].isDigit() &&
                line[8] == ' ' &&
                line.substring(9, 12).all { it in '0'..'9' } &&
                (line.length == 12 || line[12] == ' ')
        if (!valid) throw ProtocolException("upgrade response: not an HTTP/1.x status line: '${printable(line)}'")
        return line.substring(9, 12).toInt() to line.drop(13)
    }

    private fun parseHeader(line: String): Pair<String, String> {
        if (line[0] == ' ' || line[0] == '\t') {
            throw ProtocolException("upgrade response: a folded header line, which HTTP/1.1 no longer allows")
        }
        val colon = line.indexOf(':')
        val name = if (colon > 0) line.substring(0, colon) else ""
        if (!name.isToken()) {
            throw ProtocolException("upgrade response: not a header line: '${printable(line)}'")
        }
        return name.lowercase() to line.substring(colon + 1).trim(' ', '\t')
    }

    /** At most 80 characters of [line], control and non-ASCII bytes shown as `\xNN`, for error messages. */
    private fun printable(line: String): String = buildString {
        for (c in line.take(PREVIEW)) {
            if (c.code in 0x20..0x7E) append(c) else append("\\x%02x".format(c.code))
        }
        if (line.length > PREVIEW) append('…')
    }

    private const val LF = 0x0A
    private const val PREVIEW = 80
}
