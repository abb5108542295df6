"""Teachers write rationales and new problems. Selected by `teacher=NAME` (conf/teacher/)."""
