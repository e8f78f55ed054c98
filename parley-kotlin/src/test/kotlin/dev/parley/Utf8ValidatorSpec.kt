package dev.parley

import dev.parley.internal.Utf8Validator
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe

private fun bytes(vararg b: Int): ByteArray = ByteArray(b.size) { b[it].toByte() }

/** Feeds [chunks] one after another; returns (every feed accepted, ends on a code point boundary). */
private fun validate(vararg chunks: ByteArray): Pair<Boolean, Boolean> {
    val v = Utf8Validator()
    val fed = chunks.all { v.feed(it) }
    return fed to v.isComplete
}

class Utf8ValidatorSpec :
    FunSpec({
        test("ASCII and 2-, 3- and 4-byte sequences are valid and complete") {
            validate("plain ascii".encodeToByteArray()) shouldBe (true to true)
            validate("é€😀 mixed ✓".encodeToByteArray()) shouldBe (true to true)
            // Boundaries: U+0080, U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF.
            validate(bytes(0xC2, 0x80, 0xDF, 0xBF)) shouldBe (true to true)
            validate(bytes(0xE0, 0xA0, 0x80, 0xEF, 0xBF, 0xBF)) shouldBe (true to true)
            validate(bytes(0xF0, 0x90, 0x80, 0x80, 0xF4, 0x8F, 0xBF, 0xBF)) shouldBe (true to true)
            // U+D7FF and U+E000 sit just outside the surrogate range.
            validate(bytes(0xED, 0x9F, 0xBF, 0xEE, 0x80, 0x80)) shouldBe (true to true)
        }

        test("the empty input is valid and complete") {
            validate(ByteArray(0)) shouldBe (true to true)
        }

        test("a multi-byte sequence split across feeds is accepted at every split point") {
            val euro = "a😀€b".encodeToByteArray()
            for (cut in 0..euro.size) {
                validate(euro.copyOfRange(0, cut), euro.copyOfRange(cut, euro.size)) shouldBe (true to true)
            }
            // One byte per feed.
            validate(*euro.map { byteArrayOf(it) }.toTypedArray()) shouldBe (true to true)
        }

        test("a truncated sequence is accepted so far but not complete") {
            validate(bytes(0x61, 0xE2, 0x82)) shouldBe (true to false)
            validate(bytes(0xF0, 0x9F, 0x98)) shouldBe (true to false)
            validate(bytes(0xC3)) shouldBe (true to false)
        }

        test("overlong encodings are rejected") {
            validate(bytes(0xC0, 0x80)).first shouldBe false
            validate(bytes(0xC1, 0xBF)).first shouldBe false
            validate(bytes(0xE0, 0x80, 0xAF)).first shouldBe false
            validate(bytes(0xE0, 0x9F, 0xBF)).first shouldBe false
            validate(bytes(0xF0, 0x80, 0x80, 0xAF)).first shouldBe false
            validate(bytes(0xF0, 0x8F, 0xBF, 0xBF)).first shouldBe false
        }

        test("UTF-16 surrogates are rejected") {
            validate(bytes(0xED, 0xA0, 0x80)).first shouldBe false // U+D800
            validate(bytes(0xED, 0xBF, 0xBF)).first shouldBe false // U+DFFF
            // A surrogate lead split from its continuation is still caught on the second feed.
            validate(bytes(0xED), bytes(0xA0, 0x80)).first shouldBe false
        }

        test("code points above U+10FFFF and bytes F5..FF are rejected") {
            validate(bytes(0xF4, 0x90, 0x80, 0x80)).first shouldBe false // U+110000
            validate(bytes(0xF5, 0x80, 0x80, 0x80)).first shouldBe false
            validate(bytes(0xF8, 0x88, 0x80, 0x80, 0x80)).first shouldBe false
            validate(bytes(0xFF)).first shouldBe false
            validate(bytes(0xFE)).first shouldBe false
        }

        test("stray or missing continuation bytes are rejected") {
            validate(bytes(0x80)).first shouldBe false
            validate(bytes(0x61, 0xBF)).first shouldBe false
            validate(bytes(0xC3, 0x28)).first shouldBe false
            validate(bytes(0xE2, 0x82, 0x41)).first shouldBe false
        }

        test("feed honours its from and to bounds") {
            val v = Utf8Validator()
            // Only the valid middle part is fed; the invalid bytes around it are skipped.
            v.feed(bytes(0xFF, 0xC3, 0xA9, 0xFF), from = 1, to = 3) shouldBe true
            v.isComplete shouldBe true
        }
    })
