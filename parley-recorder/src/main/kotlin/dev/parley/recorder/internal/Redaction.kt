package dev.parley.recorder.internal

import dev.parley.recorder.TextRedactor
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive

/**
 * Takes secrets out of text before it is written. In JSON (an object or array), the value of every field whose name
 * is a secret's (compared without case, `_` or `-`: `api_key`, `apiKey` and `API-KEY` are one name) is replaced with
 * [MARK], at any depth; in other text, `name=value` pairs with such names are. A [custom] redactor runs last, for
 * formats the recorder cannot know.
 */
internal class Redaction(
    fields: Collection<String>,
    private val custom: TextRedactor?,
) {
    private val names: Set<String> = fields.map(::normal).toSet()
    private val pairs: Regex? =
        if (names.isEmpty()) {
            null
        } else {
            // The names as they may be spelled in a query string or a form: separators optional, any case.
            val alternatives = fields.joinToString("|") { name ->
                normal(name).map { Regex.escape(it.toString()) }.joinToString("[_-]?")
            }
            Regex("(?i)\\b($alternatives)=([^&\\s\"',;]+)")
        }

    /** [text] with its secrets replaced, and whether anything was. */
    fun redact(text: String): Pair<String, Boolean> {
        var out = text
        if (names.isNotEmpty() && mayHoldSecret(text)) {
            val json = jsonOrNull(text)
            out =
                if (json != null) {
                    val redacted = walk(json)
                    if (redacted === json) text else redacted.toString()
                } else {
                    pairs?.replace(text) { "${it.groupValues[1]}=$MARK" } ?: text
                }
        }
        custom?.let { out = it.redact(out) }
        return out to (out != text)
    }

    /**
     * Whether any secret's name occurs in [text] at all, compared as names are: most frames hold none, and this scan
     * costs a fraction of parsing them (measured in RecorderBenchmark).
     */
    private fun mayHoldSecret(text: String): Boolean {
        val plain = normal(text)
        return names.any { plain.contains(it) }
    }

    private fun jsonOrNull(text: String): JsonElement? {
        val first = text.firstOrNull { !it.isWhitespace() }
        if (first != '{' && first != '[') return null
        return try {
            Json.parseToJsonElement(text)
        } catch (_: Exception) {
            null
        }
    }

    /** [element] with secrets replaced; the same instance when nothing was, so unchanged text is written as it came. */
    private fun walk(element: JsonElement): JsonElement = when (element) {
        is JsonObject -> {
            var changed = false
            val fields =
                element.mapValues { (key, value) ->
                    val next = if (normal(key) in names && value !is JsonNull) HIDDEN else walk(value)
                    if (next !== value) changed = true
                    next
                }
            if (changed) JsonObject(fields) else element
        }

        is JsonArray -> {
            val items = element.map { walk(it) }
            if (items.indices.any { items[it] !== element[it] }) JsonArray(items) else element
        }

        else -> element
    }

    companion object {
        const val MARK = "[redacted]"
        private val HIDDEN = JsonPrimitive(MARK)

        fun normal(name: String): String = name.lowercase().filter { it != '_' && it != '-' }
    }
}
