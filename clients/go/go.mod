module github.com/datacat/datacat/clients/go

go 1.19
