package dev.parley.internal

/** What reaches the loop from its helpers: table events, and inputs it handles itself (before or instead of the table). */
internal sealed interface LoopInput

/** Inbound traffic, read and validated by the session's reader; never reaches the table directly. */
internal class InboundEvent(
    val inbound: Inbound,
    /** [Clock.nanos] when the frame was read. */
    val receivedAtNanos: Long,
    /** What it holds of the client's [InboundBudget], released once the loop (or a later result) is done with it. */
    val charge: Long,
) : LoopInput

/** An input from a helper, stamped with the generation of the connection or attempt it belongs to. */
internal class Tagged(
    val generation: Long,
    val input: LoopInput,
)
