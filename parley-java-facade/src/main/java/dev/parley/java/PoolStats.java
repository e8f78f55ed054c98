package dev.parley.java;

import java.util.List;

/** What a {@link ParleyWebSocketPool} has done so far, and how it sees each member now. */
public final class PoolStats {
    private final List<Member> members;
    private final long sent;
    private final long requests;
    private final long rerouted;
    private final long failedOver;
    private final long unavailable;

    PoolStats(List<Member> members, long sent, long requests, long rerouted, long failedOver, long unavailable) {
        this.members = List.copyOf(members);
        this.sent = sent;
        this.requests = requests;
        this.rerouted = rerouted;
        this.failedOver = failedOver;
        this.unavailable = unavailable;
    }

    /** Each member, in the order the factory made them. */
    public List<Member> members() { return members; }

    /** How many members are connected now. */
    public int connected() { return (int) members.stream().filter(m -> m.state().kind() == ParleyState.Kind.CONNECTED).count(); }

    /** Frames the pool sent, each counted once, on the member that wrote it. */
    public long sent() { return sent; }

    /** Requests the pool routed, answered or not. */
    public long requests() { return requests; }

    /** Frames a member refused before queueing them (never on the wire), sent through another. */
    public long rerouted() { return rerouted; }

    /** Idempotent frames lost with a connection and sent again through another member. */
    public long failedOver() { return failedOver; }

    /** Sends and requests refused because no member was connected. */
    public long unavailable() { return unavailable; }

    @Override
    public String toString() {
        return "PoolStats{connected=" + connected() + "/" + members.size() + ", sent=" + sent + ", requests=" + requests
            + ", rerouted=" + rerouted + ", failedOver=" + failedOver + ", unavailable=" + unavailable + "}";
    }

    /** One member as the pool routes it: the lower the score, the more it is chosen. */
    public static final class Member {
        private final int index;
        private final ParleyState state;
        private final int score;
        private final boolean silent;
        private final long routed;

        Member(int index, ParleyState state, int score, boolean silent, long routed) {
            this.index = index;
            this.state = state;
            this.score = score;
            this.silent = silent;
            this.routed = routed;
        }

        /** The member's number, from 0. */
        public int index() { return index; }

        /** Its connection state. */
        public ParleyState state() { return state; }

        /** Its routing score (0 is healthy and idle), or -1 while it is not connected and so never chosen. */
        public int score() { return score; }

        /** Whether its heartbeat ping has gone unanswered long enough that its server has probably stalled. */
        public boolean silent() { return silent; }

        /** Frames written and requests answered through it so far, and the times the pool picked it. */
        public long routed() { return routed; }

        @Override
        public String toString() {
            return "Member{" + index + ", " + state.kind() + ", score=" + score + ", silent=" + silent + ", routed=" + routed + "}";
        }
    }
}
