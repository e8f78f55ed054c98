package dev.parley

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe

class PlaceholderSpec : FunSpec({
    test("kotest runs") { (1 + 1) shouldBe 2 }
})
