public enum RangeCoding {}
