module github.com/vigil-project/vigil

go 1.26.8
