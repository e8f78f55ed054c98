package dev.parley.recorder.internal

import dev.parley.DisconnectReason
import dev.parley.FrameKind
import dev.parley.WireDirection
import dev.parley.recorder.RecordedConnect
import dev.parley.recorder.RecordedDisconnect
import dev.parley.recorder.RecordedEntry
import dev.parley.recorder.RecordedFrame
import dev.parley.recorder.RecordedGap
import dev.parley.recorder.RecordingFormatException
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import kotlinx.serialization.json.put
import java.time.Instant
import java.util.Base64

/**
 * The JSONL format of a recording, version [VERSION]. Every file starts with a header line naming the format, so a
 * reader can refuse what it does not understand; then one object per line:
 *
 * - a frame: `{"at":…,"conn":1,"dir":"out","kind":"text","text":"…"}`, with `"base64"` for binary payloads, pings and
 *   pongs, `"code"` and `"reason"` for close frames, and `"redacted":true` when secrets were taken out of the text;
 * - `{"at":…,"conn":1,"event":"connected","subprotocol":…}` and `{"at":…,"conn":1,"event":"disconnected",
 *   "reason":"ClosedByPeer","explanation":…,"code":…,"closeReason":…}`;
 * - `{"at":…,"event":"gap","frames":12}`: the recorder dropped that many frames just before this point.
 *
 * Times are ISO-8601 instants (UTC, to the microsecond where the clock has it).
 */
internal object RecordFormat {
    const val FORMAT = "parley-recording"
    const val VERSION = 1

    fun header(started: Instant): String = buildJsonObject {
        put("format", FORMAT)
        put("version", VERSION)
        put("started", started.toString())
    }.toString()

    fun frame(
        at: Instant,
        connection: Long,
        direction: WireDirection,
        kind: FrameKind,
        text: String?,
        bytes: ByteArray?,
        closeCode: Int?,
        closeReason: String?,
        redacted: Boolean,
    ): String = buildJsonObject {
        put("at", at.toString())
        put("conn", connection)
        put("dir", if (direction == WireDirection.INBOUND) "in" else "out")
        put("kind", kind.name.lowercase())
        when (kind) {
            FrameKind.TEXT -> put("text", text.orEmpty())

            FrameKind.CLOSE -> {
                put("code", closeCode)
                put("reason", closeReason.orEmpty())
            }

            else -> put("base64", Base64.getEncoder().encodeToString(bytes ?: ByteArray(0)))
        }
        if (redacted) put("redacted", true)
    }.toString()

    fun connected(at: Instant, connection: Long, subprotocol: String?): String = buildJsonObject {
        put("at", at.toString())
        put("conn", connection)
        put("event", "connected")
        put("subprotocol", subprotocol)
    }.toString()

    fun disconnected(at: Instant, connection: Long, reason: DisconnectReason): String = buildJsonObject {
        put("at", at.toString())
        put("conn", connection)
        put("event", "disconnected")
        put("reason", reason::class.simpleName)
        put("explanation", reason.explain())
        when (reason) {
            is DisconnectReason.ClosedByPeer -> {
                put("code", reason.code)
                put("closeReason", reason.reason)
            }

            is DisconnectReason.ClosedLocally -> {
                put("code", reason.code)
                put("closeReason", reason.reason)
            }

            is DisconnectReason.ByHandler -> put("code", reason.closeCode)

            else -> {}
        }
    }.toString()

    fun gap(at: Instant, frames: Long): String = buildJsonObject {
        put("at", at.toString())
        put("event", "gap")
        put("frames", frames)
    }.toString()

    /** Checks a file's first line; [where] names the file for the error. */
    fun checkHeader(line: String?, where: String) {
        val header = line?.let { parse(it, where, 1) }
        val format = header?.string("format")
        if (format != FORMAT) throw RecordingFormatException("$where does not start with a $FORMAT header line")
        val version = header.getValue("version").jsonPrimitive.int
        if (version > VERSION) {
            throw RecordingFormatException("$where is format version $version; this reader knows up to $VERSION")
        }
    }

    /** One line after the header, as an entry; [where] and [lineNumber] locate it for the error. */
    fun entry(line: String, where: String, lineNumber: Int): RecordedEntry {
        val o = parse(line, where, lineNumber)
        try {
            val at = Instant.parse(o.string("at"))
            val connection = o["conn"]?.jsonPrimitive?.long ?: 0
            return when (o.string("event")) {
                "connected" -> RecordedConnect(at, connection, o.string("subprotocol"))

                "disconnected" -> RecordedDisconnect(
                    at,
                    connection,
                    o.string("reason") ?: "Unknown",
                    o.string("explanation").orEmpty(),
                    o["code"]?.jsonPrimitive?.int,
                    o.string("closeReason"),
                )

                "gap" -> RecordedGap(at, o.getValue("frames").jsonPrimitive.long)

                null -> {
                    val kind = FrameKind.valueOf(o.string("kind")!!.uppercase())
                    val direction = if (o.string("dir") == "in") WireDirection.INBOUND else WireDirection.OUTBOUND
                    RecordedFrame(
                        at,
                        connection,
                        direction,
                        kind,
                        o.string("text").takeIf { kind == FrameKind.TEXT },
                        o.string("base64")?.let { Base64.getDecoder().decode(it) },
                        o["code"]?.jsonPrimitive?.int,
                        o.string("reason").takeIf { kind == FrameKind.CLOSE },
                        o["redacted"]?.jsonPrimitive?.content == "true",
                    )
                }

                else -> throw IllegalArgumentException("unknown event ${o.string("event")}")
            }
        } catch (e: RecordingFormatException) {
            throw e
        } catch (e: Exception) {
            throw RecordingFormatException("$where line $lineNumber is not a recorded entry: ${e.message}", e)
        }
    }

    private fun parse(line: String, where: String, lineNumber: Int): JsonObject = try {
        Json.parseToJsonElement(line).jsonObject
    } catch (e: Exception) {
        throw RecordingFormatException("$where line $lineNumber is not a JSON object: ${e.message}", e)
    }

    private fun JsonObject.string(key: String): String? = (this[key] as? JsonPrimitive)?.takeIf { it.isString }?.content
}
