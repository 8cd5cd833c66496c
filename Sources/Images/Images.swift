public enum Images {}
